"""Is the market open now, and when does it open next? The NSE calendar, refreshed daily.

Where it sits: the collection thread asks before every tick. ``TradingCalendar`` holds an
``NseCalendar`` (``market/calendar.py``) built from NSE's holiday list for the year — fetched
from ``/api/holiday-master`` once per IST day, else the disk cache, else the bundled or
exchange-calendars list — plus the special sessions and overrides from settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from nsechain.config import Settings
from nsechain.market.calendar import DEFAULT_SPECIAL, MarketState, NseCalendar, parse_override
from nsechain.market.holidays import parse_session_times, resolve_year
from nsechain.timeutil import IST

__all__ = ["MarketClock", "TradingCalendar", "market_report"]

log = logging.getLogger(__name__)


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

    def calendar(self, now: datetime) -> NseCalendar:
        today = now.astimezone(IST).date()
        if self._calendar is None or self._day != today:
            self._calendar = self._build(today.year)
            self._day = today
        return self._calendar

    def _build(self, year: int) -> NseCalendar:
        s = self._settings
        # NSE serves the current year only; NseCalendar loads other years lazily, offline.
        this_year = resolve_year(year, s.market_dir, self._fetch)
        log.info(
            "calendar year=%d source=%s holidays=%d",
            year,
            this_year.source,
            len(this_year.holidays),
        )
        return NseCalendar(
            [this_year],
            overrides=[parse_override(text) for text in s.session_overrides],
            special_default=parse_session_times(s.special_session_default) or DEFAULT_SPECIAL,
        )

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
