"""The loader's tables: created in their first shape, then upgraded in place.

Where it sits: under ``store.loader`` and ``store.history`` (which call ``ensure_tables`` and
``upgrade_tables`` on a connection from ``store.db.open_db``) and ``store.batch`` (which fills
them). The quotes and fetch-log DDL is derived from the Arrow schemas of ``contract``.

``ensure_tables`` creates what is missing in its first shape; ``upgrade_tables`` then adds
later columns (the per-snapshot totals of ``loaded_snapshots``) with ``ALTER TABLE … ADD
COLUMN IF NOT EXISTS`` and backfills them. A new database and one made before a change take
the same path, so the upgrade runs on every fresh database, not only on old ones; and tools
that fill the first shape themselves (tests, imports) keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from nsechain.contract import (
    FETCH_LOG_SCHEMA,
    QUOTES_SCHEMA,
    SNAPSHOT_TOTALS,
    SNAPSHOTS_SCHEMA,
    duckdb_ddl,
)
from nsechain.store.db import Connection, transaction
from nsechain.store.latest import ensure_latest, has_latest
from nsechain.store.summaries import SNAPSHOT_ATM, rebuild_atm

__all__ = [
    "SORTED_DAYS",
    "ensure_tables",
    "manifest_hits",
    "snapshot_totals_columns",
    "upgrade_tables",
]

log = logging.getLogger(__name__)

SORTED_DAYS = "sorted_days"
# Closed days stored sorted (store.daysort in place, store.compact in its rewrite): the
# scheduled sort starts after the last one. One of the store's tables, so a rewrite keeps its key.
_SORTED_DAYS_DDL = f"""CREATE TABLE IF NOT EXISTS {SORTED_DAYS} (
    day DATE PRIMARY KEY,
    quote_rows BIGINT NOT NULL,
    sorted_at TIMESTAMPTZ NOT NULL
)"""

TABLES: tuple[str, ...] = (
    # No primary key on quotes (DESIGN §6): deduplication is per snapshot, below.
    duckdb_ddl("option_quotes", QUOTES_SCHEMA),
    duckdb_ddl("fetch_log", FETCH_LOG_SCHEMA),
    """CREATE TABLE IF NOT EXISTS loaded_files (
    file_name VARCHAR PRIMARY KEY,
    day DATE,
    quote_rows BIGINT,
    fetch_rows BIGINT,
    load_id VARCHAR,
    loaded_at TIMESTAMPTZ
)""",
    # No key either: ~250k rows a day; lookups are pruned by the batch's time range instead.
    # upgrade_tables adds the SNAPSHOT_TOTALS columns.
    """CREATE TABLE IF NOT EXISTS loaded_snapshots (
    symbol VARCHAR NOT NULL,
    expiry DATE NOT NULL,
    exchange_ts TIMESTAMPTZ NOT NULL,
    file_name VARCHAR NOT NULL,
    rows BIGINT
)""",
    _SORTED_DAYS_DDL,
)

_DUCK_TYPES = {pa.float64(): "DOUBLE", pa.int64(): "BIGINT"}
#: Columns added to loaded_snapshots after its first shape, with their DuckDB types. They are
#: nullable: NULL means "totals not known" (a row no loader of this version wrote and the
#: backfill could not fill), never zero; readers then sum option_quotes instead.
_TOTALS_DDL: tuple[tuple[str, str], ...] = tuple(
    (name, _DUCK_TYPES[SNAPSHOTS_SCHEMA.field(name).type]) for name in SNAPSHOT_TOTALS
)


def ensure_tables(con: Connection) -> None:
    """Create the loader's tables that are missing, in their first shape (see the module)."""
    for ddl in TABLES:
        con.execute(ddl)


def snapshot_totals_columns(con: Connection) -> set[str]:
    """Which ``SNAPSHOT_TOTALS`` columns ``loaded_snapshots`` has (empty if no such table)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns()"
        " WHERE database_name = current_database() AND schema_name = 'main'"
        " AND table_name = 'loaded_snapshots'"
    ).fetchall()
    return {str(r[0]) for r in rows} & set(SNAPSHOT_TOTALS)


# The totals of every snapshot whose totals are unknown, from its rows in option_quotes, exactly
# as snapshots_of() and analytics/sql.py compute them. Snapshots without quote rows stay NULL.
_BACKFILL = """
UPDATE loaded_snapshots AS l
SET underlying_value = t.underlying_value, ce_oi = t.ce_oi, pe_oi = t.pe_oi,
    ce_volume = t.ce_volume, pe_volume = t.pe_volume
FROM (
  SELECT symbol, expiry, exchange_ts, max(underlying_value) AS underlying_value,
         coalesce(sum(open_interest) FILTER (WHERE option_type = 'CE'), 0) AS ce_oi,
         coalesce(sum(open_interest) FILTER (WHERE option_type = 'PE'), 0) AS pe_oi,
         coalesce(sum(volume) FILTER (WHERE option_type = 'CE'), 0)::BIGINT AS ce_volume,
         coalesce(sum(volume) FILTER (WHERE option_type = 'PE'), 0)::BIGINT AS pe_volume
  FROM option_quotes
  GROUP BY symbol, expiry, exchange_ts
) AS t
WHERE l.ce_oi IS NULL
  AND l.symbol = t.symbol AND l.expiry = t.expiry AND l.exchange_ts = t.exchange_ts
"""


def upgrade_tables(con: Connection) -> int:
    """Bring tables made by ``ensure_tables`` (or by an older nsechain) up to date: add the
    ``SNAPSHOT_TOTALS`` columns to ``loaded_snapshots`` and backfill them from ``option_quotes``,
    in one transaction; create ``latest_snapshots`` (``store.latest``) filled from it; then
    create ``snapshot_atm`` (``store.summaries``) and fill it for
    every loaded snapshot. A no-op (two catalog queries) once done; returns the snapshots
    whose totals were filled.

    Each backfill runs once, when its columns or table are added: one aggregate over
    ``option_quotes`` (~1.5 s per 20M rows here). Later snapshots get their totals from the
    tick files and their ATM row from their quotes, at load time.
    """
    # fetch_log before routes: the column comes, null for the rows already there.
    con.execute("ALTER TABLE fetch_log ADD COLUMN IF NOT EXISTS route VARCHAR")
    filled = _upgrade_totals(con)
    if not has_latest(con):
        started = time.perf_counter()
        with transaction(con):
            pairs = ensure_latest(con)
        log.info(
            "upgrade latest_snapshots pairs=%d ms=%.0f",
            pairs,
            (time.perf_counter() - started) * 1000,
        )
    if not _has_table(con, SNAPSHOT_ATM):
        rebuild_atm(con)
    _key_sorted_days(con)
    return filled


def _key_sorted_days(con: Connection) -> None:
    """A ``sorted_days`` without its key (copied as a plain table by ``nsechain compact``
    before the table was one of these) made every later day sort fail on its INSERT OR
    REPLACE: make it again, keyed, with its rows."""
    keyed = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE database_name = current_database()"
        f" AND table_name = '{SORTED_DAYS}' AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()[0][0]
    if keyed:
        return
    with transaction(con):
        con.execute(f"ALTER TABLE {SORTED_DAYS} RENAME TO {SORTED_DAYS}_unkeyed")
        con.execute(_SORTED_DAYS_DDL)
        con.execute(
            f"INSERT OR REPLACE INTO {SORTED_DAYS} BY NAME SELECT * FROM {SORTED_DAYS}_unkeyed"
        )
        con.execute(f"DROP TABLE {SORTED_DAYS}_unkeyed")
    log.warning("upgrade sorted_days: its primary key restored")


def _has_table(con: Connection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        " AND schema_name = 'main' AND table_name = ?",
        [name],
    ).fetchall()
    return bool(rows and rows[0][0])


def _upgrade_totals(con: Connection) -> int:
    have = snapshot_totals_columns(con)
    if len(have) == len(_TOTALS_DDL):
        return 0
    started = time.perf_counter()
    with transaction(con):
        for name, duck_type in _TOTALS_DDL:
            con.execute(f"ALTER TABLE loaded_snapshots ADD COLUMN IF NOT EXISTS {name} {duck_type}")
        rows = con.execute(_BACKFILL).fetchall()
        filled = int(rows[0][0]) if rows else 0
    if filled:
        log.info(
            "upgrade loaded_snapshots totals backfilled_snapshots=%d ms=%.0f",
            filled,
            (time.perf_counter() - started) * 1000,
        )
    return filled


def manifest_hits(con: Connection, files: Sequence[Path], *, present: bool) -> set[str]:
    """Names of ``files`` that are (present=True) or are not (False) in ``loaded_files``."""
    if not files:
        return set()
    con.register("_names", pa.table({"name": pa.array([p.name for p in files], pa.string())}))
    try:
        join = "SEMI" if present else "ANTI"
        rows = con.execute(
            f"SELECT n.name FROM _names n {join} JOIN loaded_files f ON n.name = f.file_name"
        ).fetchall()
    finally:
        con.unregister("_names")
    return {str(r[0]) for r in rows}
