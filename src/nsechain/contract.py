"""The column lists: one Arrow schema per table, and the DuckDB DDL derived from them.

Where it sits: the parser builds ``QUOTES_SCHEMA`` tables, the collector builds ``FETCH_LOG_SCHEMA``
tables, the writer stores both in one Parquet file per tick, the loader creates its tables from
``duckdb_ddl``. Change a column here and every stage follows.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "FETCH_LOG_SCHEMA",
    "IST",
    "OUTCOMES",
    "QUOTES_SCHEMA",
    "SNAPSHOT_KEY",
    "duckdb_ddl",
]

IST = "Asia/Kolkata"
_TS = pa.timestamp("us", tz=IST)

#: One row per contract per snapshot (long format). OI is a double because legacy captures
#: carry fractional OI (e.g. 4.333); everything NSE sends as a quantity is an int64.
QUOTES_SCHEMA = pa.schema(
    [
        pa.field("exchange_ts", _TS, nullable=False),  # NSE's records.timestamp (IST)
        pa.field("fetched_at", _TS, nullable=False),  # when our response arrived
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("expiry", pa.date32(), nullable=False),
        pa.field("strike", pa.float64(), nullable=False),
        pa.field("option_type", pa.string(), nullable=False),  # 'CE' | 'PE'
        pa.field("open_interest", pa.float64()),
        pa.field("change_in_oi", pa.float64()),
        pa.field("pct_change_in_oi", pa.float64()),
        pa.field("volume", pa.int64()),
        pa.field("iv", pa.float64()),
        pa.field("last_price", pa.float64()),
        pa.field("change", pa.float64()),
        pa.field("pct_change", pa.float64()),
        pa.field("total_buy_qty", pa.int64()),
        pa.field("total_sell_qty", pa.int64()),
        pa.field("bid_price", pa.float64()),
        pa.field("bid_qty", pa.int64()),
        pa.field("ask_price", pa.float64()),
        pa.field("ask_qty", pa.int64()),
        pa.field("underlying_value", pa.float64()),
        pa.field("identifier", pa.string()),
    ]
)

#: A snapshot is all rows of one (symbol, expiry) at one NSE timestamp; the loader deduplicates
#: at this grain (manifest + anti-join), never per row.
SNAPSHOT_KEY: tuple[str, ...] = ("symbol", "expiry", "exchange_ts")

#: fetch_log outcome classes (errors.NsechainError.outcome values, plus ok and stale).
OUTCOMES: tuple[str, ...] = (
    "ok",
    "stale",
    "empty",
    "blocked",
    "unauthorized",
    "bad_payload",
    "timeout",
    "http_error",
)

#: One row per HTTP request the collector made (including retries and bootstraps).
FETCH_LOG_SCHEMA = pa.schema(
    [
        pa.field("fetched_at", _TS, nullable=False),
        pa.field("symbol", pa.string()),  # null for symbol-less calls (bootstrap, universe)
        pa.field("expiry", pa.date32()),
        pa.field("endpoint", pa.string(), nullable=False),  # e.g. 'option-chain-v3'
        pa.field("http_status", pa.int32()),  # null when no response arrived
        pa.field("outcome", pa.string(), nullable=False),  # one of OUTCOMES
        pa.field("latency_ms", pa.float64()),
        pa.field("bytes", pa.int64()),
        pa.field("rows", pa.int64()),  # quote rows this fetch produced
        pa.field("exchange_ts", _TS),
        pa.field("attempt", pa.int32()),  # 1 for the first try, 2.. for retries
        pa.field("error", pa.string()),
    ]
)

_DUCK_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.date32(): "DATE",
    _TS: "TIMESTAMPTZ",
}


def duckdb_ddl(table: str, schema: pa.Schema) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``schema``; non-nullable fields become NOT NULL."""
    cols = ",\n    ".join(
        f'"{f.name}" {_DUCK_TYPES[f.type]}{"" if f.nullable else " NOT NULL"}' for f in schema
    )
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n)"
