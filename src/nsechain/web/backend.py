"""What every dashboard route shares: the ``Backend`` it reads and its parameter types.

Where it sits: below ``web/app.py`` (the core routes) and ``web/desk_api.py`` (the trader's
desk routes), which both take a ``Backend`` and declare their parameters with the aliases
here; above ``web/service.py`` (the answers) and ``web/reader.py`` (the cached reads). Kept
apart so the two route modules need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query

from nsechain.collector.clock import Clock
from nsechain.collector.session import TradingCalendar
from nsechain.collector.status import read_status
from nsechain.config import Settings
from nsechain.web import service
from nsechain.web.reader import Reader

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager

__all__ = [
    "AtParam",
    "Backend",
    "DayParam",
    "ExpiryParam",
    "SinceParam",
    "StrikesParam",
    "SymbolParam",
]


@dataclass
class Backend:
    """What the routes read: settings, the reader, and the collector's status."""

    settings: Settings
    reader: Reader
    manager: OptionsThreadedManager | None
    refresh_s: float
    #: Market time, as the collector's: what "now" is for freshness, the fetch window and the
    #: calendar. The status heartbeat's age stays on wall time (status.json is written so).
    clock: Clock
    calendar: TradingCalendar = field(init=False)

    def __post_init__(self) -> None:
        # No fetch function: the dashboard never calls NSE; cache or bundled holiday list.
        self.calendar = TradingCalendar(self.settings)

    def status(self) -> dict[str, Any] | None:
        if self.manager is not None:
            return self.manager.get_thread_status()
        return read_status(self.settings.status_path)

    def listing(self) -> list[dict[str, Any]]:
        listing: list[dict[str, Any]] = self.reader.cached(("symbols",), service.symbols)
        return listing

    def checked(self, symbol: str, expiry: date | None = None) -> str:
        sym = symbol.strip().upper()
        service.check(self.listing(), sym, expiry)
        return sym


# --- parameters ------------------------------------------------------------------------------
SymbolParam = Annotated[
    str,
    PathParam(
        pattern=r"^[A-Za-z0-9&._-]{1,40}$",
        description="NSE symbol, e.g. NIFTY or M&M (URL-encoded: M%26M); case-insensitive.",
        examples=["NIFTY"],
    ),
]
ExpiryParam = Annotated[
    date | None,
    Query(description="Expiry (YYYY-MM-DD); default: the nearest expiry still live."),
]
AtParam = Annotated[
    datetime | None,
    Query(
        description="Show the latest snapshot at or before this time (ISO 8601; no zone = "
        "IST); default: the latest snapshot."
    ),
]
DayParam = Annotated[
    date | None,
    Query(description="IST day (YYYY-MM-DD); default: the day of the latest snapshot."),
]
StrikesParam = Annotated[
    int, Query(ge=1, le=200, description="Strikes on each side of ATM to return.")
]
SinceParam = Annotated[
    str | None,
    Query(
        description="OI change window: 'open', minutes back (5, 15, 30, 60) or an ISO time; "
        "default: NSE's change since the previous close."
    ),
]
