"""The simulated exchange calendar: FO holidays, trading sessions and expiry dates.

Where it sits: under ``market.py`` (which expiries and strikes exist on a day), ``clock.py``
(which instant a chain snapshot shows) and ``render.py`` (``/api/holiday-master``).

Rules (NSE, 2026): the normal market runs 09:15–15:30 IST on weekdays that are not FO holidays.
Every F&O contract expires on a Tuesday (NIFTY weekly; everything monthly on the last Tuesday of
the month); an expiry that falls on a holiday moves to the previous trading day. The Muhurat
session (a Sunday marked ``*`` in NSE's list) is listed but not simulated: it stays closed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from nsechain.timeutil import IST

__all__ = [
    "CLOSE",
    "OPEN",
    "SESSION_SECONDS",
    "fo_holidays",
    "index_expiries",
    "is_trading_day",
    "last_tuesday",
    "monthly_expiry",
    "next_trading_day",
    "nifty_expiries",
    "previous_trading_day",
    "session_bounds",
    "stock_expiries",
]

OPEN = time(9, 15)
CLOSE = time(15, 30)
SESSION_SECONDS = 375 * 60

# NSE's published FO trading holidays. 2025 and 2026 are the real lists; other years get the
# fixed-date national holidays only (enough for far expiries to land on the right day).
_KNOWN: dict[int, tuple[tuple[str, str], ...]] = {
    2025: (
        ("2025-01-26", "Republic Day"),
        ("2025-02-26", "Mahashivratri"),
        ("2025-03-14", "Holi"),
        ("2025-03-31", "Id-Ul-Fitr (Ramadan Eid)"),
        ("2025-04-06", "Shri Ram Navami"),
        ("2025-04-10", "Shri Mahavir Jayanti"),
        ("2025-04-14", "Dr. Baba Saheb Ambedkar Jayanti"),
        ("2025-04-18", "Good Friday"),
        ("2025-05-01", "Maharashtra Day"),
        ("2025-06-07", "Bakri Id"),
        ("2025-07-06", "Muharram"),
        ("2025-08-15", "Independence Day / Parsi New Year"),
        ("2025-08-27", "Shri Ganesh Chaturthi"),
        ("2025-10-02", "Mahatma Gandhi Jayanti/Dussehra"),
        ("2025-10-21", "Diwali Laxmi Pujan"),
        ("2025-10-22", "Balipratipada"),
        ("2025-11-05", "Prakash Gurpurb Sri Guru Nanak Dev"),
        ("2025-12-25", "Christmas"),
    ),
    2026: (
        ("2026-01-15", "Municipal Corporation Election - Maharashtra"),
        ("2026-01-26", "Republic Day"),
        ("2026-02-15", "Mahashivratri"),
        ("2026-03-03", "Holi"),
        ("2026-03-21", "Id-Ul-Fitr (Ramadan Eid)"),
        ("2026-03-26", "Shri Ram Navami"),
        ("2026-03-31", "Shri Mahavir Jayanti"),
        ("2026-04-03", "Good Friday"),
        ("2026-04-14", "Dr. Baba Saheb Ambedkar Jayanti"),
        ("2026-05-01", "Maharashtra Day"),
        ("2026-05-28", "Bakri Id"),
        ("2026-06-26", "Muharram"),
        ("2026-08-15", "Independence Day"),
        ("2026-09-14", "Ganesh Chaturthi"),
        ("2026-10-02", "Mahatma Gandhi Jayanti"),
        ("2026-10-20", "Dussehra"),
        ("2026-11-08", "Diwali Laxmi Pujan*"),
        ("2026-11-10", "Diwali-Balipratipada"),
        ("2026-11-24", "Prakash Gurpurb Sri Guru Nanak Dev"),
        ("2026-12-25", "Christmas"),
    ),
}
_FIXED = (
    ("01-26", "Republic Day"),
    ("05-01", "Maharashtra Day"),
    ("08-15", "Independence Day"),
    ("10-02", "Mahatma Gandhi Jayanti"),
    ("12-25", "Christmas"),
)


@lru_cache(maxsize=64)
def fo_holidays(year: int) -> tuple[tuple[date, str], ...]:
    """The FO segment's holidays of ``year``, in date order, with NSE's descriptions."""
    rows = _KNOWN.get(year) or tuple((f"{year}-{md}", name) for md, name in _FIXED)
    return tuple((date.fromisoformat(d), name) for d, name in rows)


@lru_cache(maxsize=8192)
def is_trading_day(day: date) -> bool:
    """A weekday that is not an FO holiday (Muhurat Sundays count as closed)."""
    if day.weekday() >= 5:
        return False
    return all(d != day for d, _ in fo_holidays(day.year))


def previous_trading_day(day: date) -> date:
    """The last trading day strictly before ``day``."""
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day


def next_trading_day(day: date) -> date:
    """The first trading day strictly after ``day``."""
    day += timedelta(days=1)
    while not is_trading_day(day):
        day += timedelta(days=1)
    return day


def _on_or_before_trading(day: date) -> date:
    # An expiry on a holiday moves to the previous trading day.
    return day if is_trading_day(day) else previous_trading_day(day)


def last_tuesday(year: int, month: int) -> date:
    """The last Tuesday of a month (before any holiday adjustment)."""
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 1) % 7)


def monthly_expiry(year: int, month: int) -> date:
    """The monthly expiry of a month: its last Tuesday, or the trading day before it."""
    return _on_or_before_trading(last_tuesday(year, month))


def _monthlies_from(day: date, months: set[int] | None = None) -> list[date]:
    # Monthly expiries on or after ``day`` for the next 6 years, optionally only some months.
    out = []
    for i in range(72):
        y, m = day.year + (day.month - 1 + i) // 12, (day.month - 1 + i) % 12 + 1
        if months is not None and m not in months:
            continue
        exp = monthly_expiry(y, m)
        if exp >= day:
            out.append(exp)
    return out


@lru_cache(maxsize=1024)
def nifty_expiries(day: date) -> tuple[date, ...]:
    """NIFTY's listed expiries on ``day`` (about 18), nearest first.

    The next 5 weekly Tuesdays, then the next 2 monthlies beyond them, the next 3 quarterlies
    (Mar/Jun/Sep/Dec) beyond those, and 8 half-yearlies (Jun/Dec): the pattern NSE listed in
    July and August 2026.
    """
    weeklies: list[date] = []
    tue = day + timedelta(days=(1 - day.weekday()) % 7)
    while len(weeklies) < 5:
        exp = _on_or_before_trading(tue)
        if exp >= day:
            weeklies.append(exp)
        tue += timedelta(days=7)
    out = list(weeklies)
    for count, months in ((2, None), (3, {3, 6, 9, 12}), (8, {6, 12})):
        later = [e for e in _monthlies_from(out[-1], months) if e > out[-1]]
        out.extend(later[:count])
    return tuple(out)


@lru_cache(maxsize=1024)
def index_expiries(day: date) -> tuple[date, ...]:
    """BANKNIFTY, FINNIFTY, MIDCPNIFTY, NIFTYNXT50: the 3 nearest monthly expiries."""
    return tuple(_monthlies_from(day)[:3])


def stock_expiries(day: date) -> tuple[date, ...]:
    """Stock options: the 3 nearest monthly expiries (same rule as the other indices)."""
    return index_expiries(day)


def session_bounds(day: date) -> tuple[datetime, datetime]:
    """The open and close instants (aware, IST) of ``day``'s normal market."""
    return datetime.combine(day, OPEN, IST), datetime.combine(day, CLOSE, IST)
