"""Is the market open now, and when does it open next?

Where it sits: the collection thread asks before every tick. This is the plain weekday rule
(09:15–15:30 IST, Monday to Friday); the NSE holiday calendar plugs in through the same two
methods (``market/calendar.py``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Protocol

from nsechain.timeutil import IST

__all__ = ["MarketClock", "MarketHours"]

OPEN = time(9, 15)
CLOSE = time(15, 30)


class MarketClock(Protocol):
    def is_open(self, now: datetime) -> bool: ...
    def next_open(self, now: datetime) -> datetime: ...


class MarketHours:
    """Weekdays 09:15–15:30 IST; no holidays."""

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(IST)
        return local.weekday() < 5 and OPEN <= local.time() <= CLOSE

    def next_open(self, now: datetime) -> datetime:
        local = now.astimezone(IST)
        day = local.date()
        if local.time() >= OPEN:
            day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return datetime.combine(day, OPEN, tzinfo=IST)
