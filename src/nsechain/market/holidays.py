"""NSE F&O holiday lists: parse NSE's holiday master, cache it per year, fall back offline.

Where it sits: under ``market.calendar``, which turns a ``HolidayList`` into sessions. The
collector fetches ``/api/holiday-master?type=trading`` and hands the body to ``parse_holidays``
(or lets ``resolve_year`` do fetch → cache → offline fallback with a fetch callable it passes in).

Where a year's list comes from, best first:

1. NSE's list (``source="nse"``), cached on disk per year (``load_cached`` / ``save_cache``);
2. the list bundled in this package (``holidays_fo.json``: NSE's own FO lists for 2025–2026);
3. exchange-calendars ``XBOM`` (BSE; same trading days as NSE in practice, but it can miss
   NSE's one-off closures and has no Muhurat sessions);
4. weekends only (``source="weekends-only"``): the collector still runs, and says so.

NSE facts this relies on (see DESIGN.md §2 and the fixtures): entries look like
``{"tradingDate": "26-Jan-2025", "weekDay", "description", "morning_session",
"evening_session", "Sr_no"}``; a ``*`` at the end of the description marks a day that is closed
except for a special session (Muhurat trading, e.g. "Diwali Laxmi Pujan*" on Sunday
08-Nov-2026), whose times NSE announces later by circular. ``morning_session`` /
``evening_session`` are ``null`` in the FO segment and "Open"/"Closed" in the commodity segment;
they are read as session times only if they ever hold a time range.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from nsechain.errors import BadPayload, NsechainError
from nsechain.market._fsio import AtomicWrite, atomic_write_bytes

__all__ = [
    "Holiday",
    "HolidayList",
    "SessionTimes",
    "bundled_holidays",
    "bundled_special_sessions",
    "cache_path",
    "holidays_from_json",
    "holidays_to_json",
    "load_cached",
    "offline_holidays",
    "parse_holidays",
    "parse_session_times",
    "resolve_year",
    "save_cache",
    "xbom_holidays",
]

log = logging.getLogger(__name__)

SEGMENT = "FO"
FORMAT = 1
_BUNDLED = "holidays_fo.json"
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_TIME = re.compile(r"(\d{1,2})[:.](\d{2})\s*([AaPp][Mm])?")


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """Open and close wall-clock times (IST) of one session."""

    open: time
    close: time

    def __post_init__(self) -> None:
        if self.close <= self.open:
            raise ValueError(f"session closes ({self.close}) before it opens ({self.open})")

    def __str__(self) -> str:
        return f"{self.open:%H:%M}–{self.close:%H:%M}"


#: XBOM's (and NSE's) regular hours, used for the weekend sessions XBOM lists.
XBOM_SESSION = SessionTimes(time(9, 15), time(15, 30))


@dataclass(frozen=True, slots=True)
class Holiday:
    """One entry of NSE's list. ``special``: closed except a special (Muhurat) session."""

    day: date
    description: str
    special: bool = False
    times: SessionTimes | None = None  # the special session's times, when NSE gave them

    @property
    def name(self) -> str:
        return self.description.rstrip("* ").strip()


@dataclass(frozen=True, slots=True)
class HolidayList:
    """The holidays of the ``years`` it covers, and where they came from."""

    holidays: tuple[Holiday, ...]
    years: frozenset[int]
    source: str
    _by_day: dict[date, Holiday] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_day", {h.day: h for h in self.holidays})

    def get(self, day: date) -> Holiday | None:
        return self._by_day.get(day)

    def for_year(self, year: int) -> HolidayList:
        days = tuple(h for h in self.holidays if h.day.year == year)
        return HolidayList(days, frozenset({year}) & self.years, self.source)


# --- NSE's wire format ---------------------------------------------------------------------


def parse_holidays(body: bytes, *, segment: str = SEGMENT, source: str = "nse") -> HolidayList:
    """Parse a ``/api/holiday-master?type=trading`` body into the ``segment`` holiday list.

    Raises ``BadPayload`` for anything that is not such a body (HTML, ``{}``, no FO list).
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"holiday-master: not JSON ({exc})", body=body) from None
    entries = doc.get(segment) if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BadPayload(f"holiday-master: no {segment} holiday list", body=body)
    try:
        holidays = [_holiday_of(e) for e in entries]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"holiday-master: bad {segment} entry ({exc!r})", body=body) from None
    return _make_list(holidays, None, source)


def _holiday_of(entry: dict[str, Any]) -> Holiday:
    description = str(entry["description"]).strip()
    times = parse_session_times(entry.get("morning_session")) or parse_session_times(
        entry.get("evening_session")
    )
    return Holiday(
        day=_parse_dmy(str(entry["tradingDate"])),
        description=description,
        special=description.endswith("*") or times is not None,
        times=times,
    )


def _parse_dmy(text: str) -> date:
    # "26-Jan-2025"; no strptime("%b"): that depends on the process locale.
    day, month, year = text.strip().split("-")
    return date(int(year), _MONTHS[month[:3].lower()], int(day))


def parse_session_times(text: object) -> SessionTimes | None:
    """Read "18:00-19:15", "6:00 PM to 7:15 PM" and the like; None for "Open", "Closed", null."""
    if not isinstance(text, str):
        return None
    found = _TIME.findall(text)
    if len(found) != 2:
        return None
    try:
        return SessionTimes(_clock(*found[0]), _clock(*found[1]))
    except ValueError:
        return None


def _clock(hour: str, minute: str, ampm: str) -> time:
    h = int(hour) % 12 + (12 if ampm.lower() == "pm" else 0) if ampm else int(hour)
    return time(h, int(minute))


def _make_list(
    holidays: Iterable[Holiday], years: Iterable[int] | None, source: str
) -> HolidayList:
    ordered = tuple(sorted(holidays, key=lambda h: h.day))
    covered = frozenset(years) if years is not None else frozenset(h.day.year for h in ordered)
    return HolidayList(ordered, covered, source)


# --- our own JSON (the disk cache and the bundled list) ------------------------------------


def holidays_to_json(holidays: HolidayList, *, fetched_at: datetime | None = None) -> bytes:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "segment": SEGMENT,
        "source": holidays.source,
        "years": sorted(holidays.years),
        "holidays": [_holiday_doc(h) for h in holidays.holidays],
    }
    if fetched_at is not None:
        doc["fetched_at"] = fetched_at.isoformat()
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def _holiday_doc(h: Holiday) -> dict[str, Any]:
    doc: dict[str, Any] = {"date": h.day.isoformat(), "description": h.description}
    if h.times is not None:
        doc["open"], doc["close"] = f"{h.times.open:%H:%M}", f"{h.times.close:%H:%M}"
    return doc


def holidays_from_json(body: bytes, *, source: str | None = None) -> HolidayList:
    """Inverse of ``holidays_to_json``. Raises ``BadPayload`` on a damaged file."""
    try:
        doc = orjson.loads(body)
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        holidays = [
            Holiday(
                day=date.fromisoformat(h["date"]),
                description=h["description"],
                special=h["description"].endswith("*") or "open" in h,
                times=_times_doc(h),
            )
            for h in doc["holidays"]
        ]
        return _make_list(holidays, doc["years"], source or doc["source"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"holiday cache: unreadable ({exc!r})") from None


def _times_doc(doc: dict[str, Any]) -> SessionTimes | None:
    if "open" not in doc:
        return None
    return SessionTimes(time.fromisoformat(doc["open"]), time.fromisoformat(doc["close"]))


# --- disk cache ----------------------------------------------------------------------------


def cache_path(cache_dir: Path, year: int) -> Path:
    return cache_dir / f"holidays_{SEGMENT}_{year}.json"


def load_cached(cache_dir: Path, year: int) -> HolidayList | None:
    """The cached list for ``year``, or None when absent or unreadable (then fetch again)."""
    path = cache_path(cache_dir, year)
    try:
        cached = holidays_from_json(path.read_bytes(), source="cache")
    except FileNotFoundError:
        return None
    except (OSError, BadPayload) as exc:
        log.warning("ignoring holiday cache %s: %s", path, exc)
        return None
    return cached if year in cached.years else None


def save_cache(
    cache_dir: Path,
    holidays: HolidayList,
    *,
    fetched_at: datetime | None = None,
    write: AtomicWrite = atomic_write_bytes,
) -> list[Path]:
    """Write one cache file per year the list covers; returns the paths written."""
    paths = []
    for year in sorted(holidays.years):
        path = cache_path(cache_dir, year)
        write(path, holidays_to_json(holidays.for_year(year), fetched_at=fetched_at))
        paths.append(path)
    return paths


def resolve_year(
    year: int, cache_dir: Path | None, fetch: Callable[[], bytes] | None = None
) -> HolidayList:
    """The best list for ``year``: ``fetch()`` (then cached), else the cache, else offline.

    ``fetch`` returns the body of ``/api/holiday-master?type=trading``. Call this once a day
    before the open: NSE revises its list at short notice (the 15-Jan-2026 election closure),
    so the cache is the last good answer for when NSE is unreachable, not a reason to skip
    asking. NSE serves the current year only: next year comes from the offline list until
    NSE publishes it.
    """
    if fetch is not None:
        try:
            fetched = parse_holidays(fetch())
        except NsechainError as exc:
            log.warning("holiday-master unavailable (%s); using the cache or offline list", exc)
        else:
            if cache_dir is not None:
                save_cache(cache_dir, fetched)
            if year in fetched.years:
                return fetched.for_year(year)
    if cache_dir is not None and (cached := load_cached(cache_dir, year)) is not None:
        return cached
    return offline_holidays(year)


# --- offline fallbacks ---------------------------------------------------------------------


@cache
def _bundled_bytes() -> bytes:
    return resources.files("nsechain.market").joinpath(_BUNDLED).read_bytes()


@cache
def _bundled_list() -> HolidayList:
    return holidays_from_json(_bundled_bytes(), source="bundled")


def bundled_holidays(year: int) -> HolidayList | None:
    """NSE's own FO list for ``year`` as shipped with nsechain, or None if not bundled."""
    full = _bundled_list()
    return full.for_year(year) if year in full.years else None


def bundled_special_sessions() -> dict[date, tuple[SessionTimes, str]]:
    """Known special sessions NSE's holiday list does not hold (e.g. a Saturday budget day)."""
    specials = orjson.loads(_bundled_bytes()).get("special_sessions", [])
    return {
        date.fromisoformat(s["date"]): (
            SessionTimes(time.fromisoformat(s["open"]), time.fromisoformat(s["close"])),
            s["label"],
        )
        for s in specials
    }


def xbom_holidays(year: int) -> HolidayList | None:
    """BSE's (``XBOM``) closures in ``year``, or None if not covered / not installed.

    Weekdays without a session become holidays; weekend sessions (BSE's Saturday budget-day
    sessions) become special entries with regular hours.
    """
    sessions = _xbom_sessions(year)
    if sessions is None:
        return None
    days = (date(year, 1, 1) + timedelta(days=i) for i in range(366))
    entries = []
    for d in days:
        if d.year != year or (d.weekday() < 5) == (d in sessions):
            continue
        if d in sessions:
            entries.append(Holiday(d, "weekend session (XBOM calendar)", True, XBOM_SESSION))
        else:
            entries.append(Holiday(d, "XBOM calendar holiday"))
    return _make_list(entries, [year], "xbom")


@cache
def _xbom_sessions(year: int) -> frozenset[date] | None:
    # Imported on need: it is optional (not a dependency) and slow to import (pandas).
    try:
        import exchange_calendars as xcals  # type: ignore[import-untyped]
    except ImportError:
        return None
    with warnings.catch_warnings():
        # exchange-calendars trips pandas deprecation warnings; they are not ours to fix.
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XBOM")
        first, last = cal.first_session.date(), cal.last_session.date()
        if first > date(year, 1, 1) or last < date(year, 12, 31):
            return None
        sessions = cal.sessions_in_range(f"{year}-01-01", f"{year}-12-31")
    return frozenset(ts.date() for ts in sessions)


def offline_holidays(year: int) -> HolidayList:
    """Bundled list, else XBOM, else an empty list that leaves only weekends closed."""
    found = bundled_holidays(year) or xbom_holidays(year)
    if found is not None:
        return found
    # Not logged here: callers ask for a year many times (every rebuild, every lookahead);
    # the collector's calendar says it once (collector/session.py), `calendar` prints it.
    return HolidayList((), frozenset({year}), "weekends-only")
