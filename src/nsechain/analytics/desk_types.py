"""What the desk's functions need of a Desk: the ``Snapshot`` key and the ``DeskReader`` protocol.

Where it sits: in ``analytics/``, below ``nsechain.query`` (whose ``Desk`` satisfies the
protocol, and which re-exports ``Snapshot``). ``analytics/trader.py`` is written against the
protocol, so its imports point down while mypy still checks every call it makes on the Desk.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

import pyarrow as pa

from nsechain.analytics.db import When

__all__ = ["DeskReader", "Snapshot"]


class Snapshot(NamedTuple):
    """One recorded chain: all rows of (symbol, expiry) at NSE's timestamp ``exchange_ts``."""

    symbol: str
    expiry: date
    exchange_ts: datetime


class DeskReader(Protocol):
    """The two Desk methods the trader's desk builds on: find a snapshot, run a SELECT."""

    def snapshot(
        self, symbol: str, expiry: date | None = None, at: When | None = None
    ) -> Snapshot: ...

    def sql(self, query: str, params: dict[str, Any] | None = None) -> pa.Table: ...
