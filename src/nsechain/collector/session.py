"""Is the market open now, and when does it open next? The NSE calendar, refreshed daily.

Where it sits: the collection thread asks before every tick. ``TradingCalendar`` holds an
``NseCalendar`` (``market/calendar.py``) built from NSE's holiday list for the year — fetched
from ``/api/holiday-master`` once per IST day, else the disk cache, else the bundled or
exchange-calendars list — plus the special sessions and overrides from settings.

Past the last year of data it knows (NSE unreachable, nothing cached, nothing bundled), the
calendar falls back to exchange-calendars (BSE's ``XBOM``), then to weekends only. It says so
ONCE per year and fallback: one warning in the log, and the same sentence in ``fallbacks``,
which the status shows under ``market.calendar``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from nsechain.config import Settings
from nsechain.market.calendar import DEFAULT_SPECIAL, MarketState, NseCalendar, parse_override
from nsechain.market.holidays import (
    HolidayList,
    offline_holidays,
    parse_session_times,
    resolve_year,
)
from nsechain.timeutil import IST

__all__ = ["MarketClock", "TradingCalendar", "market_report"]

log = logging.getLogger(__name__)


#: Holiday-list sources that are a fallback, and what each means for the user.
_FALLBACKS = {
    "xbom": "using exchange-calendars (BSE's XBOM), which can miss NSE's one-off closures",
    "weekends-only": "treating only weekends as closed; add holidays with session_overrides",
}


class MarketClock(Protocol):
    def is_open(self, now: datetime) -> bool: ...
    def next_open(self, now: datetime) -> datetime: ...


class TradingCalendar:
    """An ``NseCalendar`` rebuilt on the first call of each IST day."""

    def __init__(self, settings: Settings, fetch: Callable[[], bytes] | None = None) -> None:
        self._settings = settings
        self._fetch = fetch
        self._day: date | None = None
        self._calendar: NseCalendar | None = None
        #: year -> what the calendar falls back to, and why (said once; shown in status)
        self.fallbacks: dict[int, str] = {}

    def calendar(self, now: datetime) -> NseCalendar:
        today = now.astimezone(IST).date()
        if self._calendar is None or self._day != today:
            self._calendar = self._build(today.year)
            self._day = today
        return self._calendar

    def provisional_open(self, now: datetime) -> bool:
        """Open by the holiday list on hand (the cache, else bundled), without asking NSE:
        the collector starts its workers on it while ``is_open`` fetches NSE's list."""
        if self._calendar is not None and self._day == now.astimezone(IST).date():
            return self._calendar.is_open(now)
        on_hand = resolve_year(now.astimezone(IST).year, self._settings.market_dir)
        return self._of(on_hand).is_open(now)

    def _build(self, year: int) -> NseCalendar:
        # NSE serves the current year only; NseCalendar loads other years lazily, offline.
        this_year = self._noted(resolve_year(year, self._settings.market_dir, self._fetch), year)
        log.info(
            "calendar year=%d source=%s holidays=%d",
            year,
            this_year.source,
            len(this_year.holidays),
        )
        return self._of(this_year)

    def _of(self, this_year: HolidayList) -> NseCalendar:
        s = self._settings
        return NseCalendar(
            [this_year],
            overrides=[parse_override(text) for text in s.session_overrides],
            special_default=parse_session_times(s.special_session_default) or DEFAULT_SPECIAL,
            offline=lambda y: self._noted(offline_holidays(y), y),
        )

    def _noted(self, found: HolidayList, year: int) -> HolidayList:
        """Say once (log and status) that ``year`` runs on a fallback, and which."""
        why = _FALLBACKS.get(found.source)
        if why is not None and self.fallbacks.get(year) is None:
            self.fallbacks[year] = (
                f"no NSE holiday list for {year} (NSE did not answer, none cached or bundled): "
                f"{why}"
            )
            log.warning("calendar fallback year=%d source=%s: %s", year, found.source, why)
        return found

    def is_open(self, now: datetime) -> bool:
        return self.calendar(now).is_open(now)

    def next_open(self, now: datetime) -> datetime:
        return self.calendar(now).next_open(now)

    def state(self, now: datetime) -> MarketState | None:
        """For status readers on other threads: never builds (building may call NSE)."""
        calendar = self._calendar
        return calendar.state(now) if calendar is not None else None


def market_report(state: Callable[[], MarketState | None]) -> dict[str, Any] | None:
    """The market state ``state()`` gives, as status JSON; None when it gives none."""
    try:
        st = state()
    except Exception as exc:  # never let the calendar break status reporting
        return {"phase": "unknown", "reason": str(exc)}
    return st.report() if st is not None else None
