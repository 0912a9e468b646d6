"""The tick's fetch log: one row per HTTP request, built into a ``FETCH_LOG_SCHEMA`` table.

Where it sits: the collector appends a row for every exchange the client reports (bootstraps,
failed attempts) and for every final fetch (ok / stale / empty ...); at the end of the tick the
rows become one Arrow table that travels inside the tick's Parquet file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

import pyarrow as pa

from nsechain.contract import FETCH_LOG_SCHEMA
from nsechain.nse.client import Exchange

__all__ = ["FetchLog", "FetchRow"]


class FetchRow(NamedTuple):
    """A fetch_log row; field order is FETCH_LOG_SCHEMA's column order."""

    fetched_at: datetime
    symbol: str | None
    expiry: date | None
    endpoint: str
    http_status: int | None
    outcome: str
    latency_ms: float | None
    bytes: int | None
    rows: int | None
    exchange_ts: datetime | None
    attempt: int | None
    error: str | None
    route: str | None


assert FetchRow._fields == tuple(FETCH_LOG_SCHEMA.names), "FetchRow must follow FETCH_LOG_SCHEMA"


class FetchLog:
    """Rows of one tick. Not thread-safe: one collection thread owns it."""

    def __init__(self) -> None:
        self.rows: list[FetchRow] = []

    def add_exchange(
        self,
        ex: Exchange,
        *,
        outcome: str | None = None,
        rows: int | None = None,
        exchange_ts: datetime | None = None,
        error: str | None = None,
    ) -> FetchRow:
        row = FetchRow(
            fetched_at=ex.fetched_at,
            symbol=ex.symbol,
            expiry=ex.expiry,
            endpoint=ex.endpoint,
            http_status=ex.http_status,
            outcome=outcome or ex.outcome,
            latency_ms=ex.latency_ms,
            bytes=ex.bytes,
            rows=rows,
            exchange_ts=exchange_ts,
            attempt=ex.attempt,
            error=error if error is not None else ex.error,
            route=ex.route,
        )
        self.rows.append(row)
        return row

    def table(self) -> pa.Table:
        # Column-wise: transpose the tuples once instead of building dicts per row.
        columns = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(FETCH_LOG_SCHEMA)
        arrays = [
            pa.array(col, type=field.type)
            for col, field in zip(columns, FETCH_LOG_SCHEMA, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=FETCH_LOG_SCHEMA)

    def clear(self) -> None:
        self.rows = []
