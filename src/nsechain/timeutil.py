"""Time helpers: IST for market logic, aware datetimes everywhere.

Where it sits: used by the parser (NSE timestamps are IST without a zone), the collector
(minute-aligned ticks in IST) and the store (day folders are IST dates).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["IST", "iso", "now_ist"]

IST = ZoneInfo("Asia/Kolkata")


def now_ist() -> datetime:
    """The current instant as an aware datetime in IST."""
    return datetime.now(IST)


def iso(value: datetime | None) -> str | None:
    """``value`` as an ISO string to the second, for status JSON; None stays None."""
    return value.isoformat(timespec="seconds") if value is not None else None
