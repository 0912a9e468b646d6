"""The data contract: one Arrow schema per table, the outcome classes, the snapshot key, and
the DuckDB DDL derived from the schemas.

Where it sits: the ground floor (imports nothing of nsechain); every stage imports it. The
parser builds ``QUOTES_SCHEMA`` tables, the collector builds ``FETCH_LOG_SCHEMA`` tables, the
writer stores both in one Parquet file per tick, the loader creates its tables from
``duckdb_ddl``. Change a column here and every stage follows.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "FAILED_OUTCOMES",
    "FETCH_LOG_SCHEMA",
    "FETCH_LOG_V1_SCHEMA",
    "IST",
    "OUTCOMES",
    "QUOTES_SCHEMA",
    "SNAPSHOTS_SCHEMA",
    "SNAPSHOTS_V1_SCHEMA",
    "SNAPSHOT_KEY",
    "SNAPSHOT_TOTALS",
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

#: Per-snapshot totals, the inputs of the put-call ratios (and the snapshot's spot):
#: ``underlying_value`` is the largest spot among the snapshot's rows (null if none has one);
#: ``ce_oi``/``pe_oi`` sum ``open_interest``, ``ce_volume``/``pe_volume`` sum ``volume`` over
#: the rows whose ``option_type`` is 'CE'/'PE'. A null quantity counts as 0 and a side without
#: rows sums to 0, so the sums are never null; exactly what ``analytics.sql`` computes from
#: ``option_quotes`` (a null total in ``loaded_snapshots`` therefore means "not known").
SNAPSHOT_TOTALS: tuple[str, ...] = ("underlying_value", "ce_oi", "pe_oi", "ce_volume", "pe_volume")

#: The snapshot list of a tick file (``nsechain.snapshots`` metadata); format 1 had no totals.
SNAPSHOTS_V1_SCHEMA = pa.schema(
    [
        QUOTES_SCHEMA.field("symbol"),
        QUOTES_SCHEMA.field("expiry"),
        QUOTES_SCHEMA.field("exchange_ts"),
        pa.field("rows", pa.int64(), nullable=False),
    ]
)
SNAPSHOTS_SCHEMA = pa.schema(
    [
        *SNAPSHOTS_V1_SCHEMA,
        QUOTES_SCHEMA.field("underlying_value"),
        pa.field("ce_oi", pa.float64(), nullable=False),
        pa.field("pe_oi", pa.float64(), nullable=False),
        pa.field("ce_volume", pa.int64(), nullable=False),
        pa.field("pe_volume", pa.int64(), nullable=False),
    ]
)

#: fetch_log outcome classes (errors.NsechainError.outcome values, plus ok and stale).
OUTCOMES: tuple[str, ...] = (
    "ok",
    "stale",
    "empty",
    "blocked",
    "fingerprint_block",
    "misdirected",
    "unauthorized",
    "bad_payload",
    "timeout",
    "http_error",
)

#: Outcomes that count as failed fetches (stale is a success that brought nothing new).
FAILED_OUTCOMES: tuple[str, ...] = tuple(o for o in OUTCOMES if o not in ("ok", "stale"))

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
        pa.field("route", pa.string()),  # "direct" or a proxy (no credentials); null: older
    ]
)

#: fetch_log before routes (tick files written by an older nsechain): read with a null route.
FETCH_LOG_V1_SCHEMA = pa.schema([f for f in FETCH_LOG_SCHEMA if f.name != "route"])

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
