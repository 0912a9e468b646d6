"""Compaction: rewrite the DuckDB file with closed days sorted and no free blocks.

Where it sits: in ``store/``, beside the loader; ``nsechain compact`` (cli/history.py) runs it,
by hand or from a scheduler after the close. Why: the loader appends one batch after another
(rows in tick order, ~5 minutes per batch), and a file filled in small batches keeps free
blocks (up to half the file, issue 20); DuckDB reuses them but never gives them back.

How: through the one door (``store.db.open_db``, read-write, so no loader runs meanwhile), a
fresh file next to the database gets the store's tables (same DDL, keys and upgrades), every
table's rows, and the views. ``option_quotes`` goes one IST day at a time: closed days sorted
by (symbol, expiry, exchange_ts, strike, option_type) (``SORT``), so zone maps prune by
symbol and expiry; the newest day keeps its load order (the loader may still be appending to
it). The sorted days are recorded in ``sorted_days``, as ``store.daysort`` records its own, so
the collector's scheduled sort goes on from the day after them. Then the fresh file replaces
the old one with an atomic rename while the old file's lock is still held. A crash before the
rename leaves the old file as it was (and a stale ``.compact-*`` file that the next run
removes); nothing is lost either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from nsechain.errors import StorageError
from nsechain.store.db import open_db
from nsechain.store.files import fsync_dir
from nsechain.store.tables import SORTED_DAYS, ensure_tables, upgrade_tables

__all__ = ["CompactReport", "compact"]

log = logging.getLogger(__name__)

#: Snapshot-major: a snapshot's rows side by side, so zone maps prune a chain to one row group
#: and timestamps run-length encode. (The contract-major order that makes Parquet zstd small,
#: DESIGN §7, is worse in DuckDB: 44.5 against 35.5 B/row on the bench's day.)
SORT = "symbol, expiry, exchange_ts, strike, option_type"
SchemaHook = Callable[[duckdb.DuckDBPyConnection], None]
_IST_DAY = "CAST(timezone('Asia/Kolkata', exchange_ts) AS DATE)"


@dataclass(frozen=True)
class CompactReport:
    days: int
    sorted_days: int
    quote_rows: int
    bytes_before: int
    bytes_after: int
    seconds: float


def _days(con: duckdb.DuckDBPyConnection) -> list[date]:
    """Every IST day from the first quote's to the last one's."""
    row = con.execute(f"SELECT min({_IST_DAY}), max({_IST_DAY}) FROM option_quotes").fetchall()[0]
    if row[0] is None:
        return []
    first, last = row
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _copy_quotes(con: duckdb.DuckDBPyConnection, old: str, days: list[date]) -> dict[date, int]:
    """Each day's rows into the fresh file; returns the rows of each day (in ``days`` order)."""
    rows: dict[date, int] = {}
    for n, day in enumerate(days):
        newest = n == len(days) - 1
        order = "" if newest else f" ORDER BY {SORT}"
        bounds = (
            "exchange_ts >= timezone('Asia/Kolkata', ?::TIMESTAMP)"
            " AND exchange_ts < timezone('Asia/Kolkata', ?::TIMESTAMP)"
        )
        sql = (
            "INSERT INTO fresh.main.option_quotes BY NAME"
            f' SELECT * FROM "{old}".main.option_quotes WHERE {bounds}{order}'
        )
        got = con.execute(sql, [day, day + timedelta(days=1)]).fetchall()
        rows[day] = int(got[0][0])
    return rows


def _record_sorted(con: duckdb.DuckDBPyConnection, rows: dict[date, int]) -> int:
    """The days sorted here (every day with rows but the newest) go into the fresh file's
    ``sorted_days`` (copied from the old one already), so the batch thread's scheduled sort
    (``store.daysort``) does not do them again. Returns how many."""
    done = [(day, n) for day, n in list(rows.items())[:-1] if n]
    for day, n in done:
        con.execute(
            f"INSERT OR REPLACE INTO fresh.main.{SORTED_DAYS} VALUES (?, ?, now())", [day, n]
        )
    return len(done)


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    found = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'"
        " AND NOT temporary ORDER BY table_name",
        [catalog],
    ).fetchall()
    return [str(r[0]) for r in found]


def _copy_rest(con: duckdb.DuckDBPyConnection, old: str, schema_hook: SchemaHook | None) -> None:
    """Every other table (the store's are already made; a user's table is copied as is) and
    every view, in the fresh file."""
    made = set(_tables(con, "fresh"))
    src = f'"{old}".main'
    for table in _tables(con, old):
        if table == "option_quotes":
            continue
        if table in made:
            con.execute(f'INSERT INTO fresh.main."{table}" BY NAME SELECT * FROM {src}."{table}"')
        else:
            con.execute(f'CREATE TABLE fresh.main."{table}" AS SELECT * FROM {src}."{table}"')
    con.execute("USE fresh")
    try:
        if schema_hook is not None:
            schema_hook(con)  # the product's views and macros, as the loader makes them
        _copy_views(con, old)
    finally:
        con.execute(f'USE "{old}"')


def _copy_views(con: duckdb.DuckDBPyConnection, old: str) -> None:
    """Views of the old file that the fresh one lacks (a user's own), by their SQL; one that
    does not bind there (it needs a macro of the old file) is named in the log, not copied."""
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = 'fresh'"
        ).fetchall()
    }
    views = con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [old],
    ).fetchall()
    for name, sql in views:
        if name in have:
            continue
        try:
            con.execute(str(sql))
        except duckdb.Error as exc:
            log.warning("compact view_not_copied view=%s error=%s", name, exc)


def compact(
    db_path: Path, *, lock_timeout_s: float = 30.0, schema_hook: SchemaHook | None = None
) -> CompactReport:
    """Rewrite ``db_path`` compactly (see the module). ``schema_hook`` makes the views in the
    fresh file (the CLI passes ``analytics.views.create_views``, as the collector's loader
    does). Returns what it did."""
    started = time.perf_counter()
    tmp = db_path.with_name(f".compact-{db_path.name}")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)  # a run killed before its rename
    if not db_path.is_file():
        raise StorageError("no such database to compact; pass the right --db path", path=db_path)
    before = db_path.stat().st_size
    con = open_db(db_path, lock_timeout_s=lock_timeout_s, hint=" Try again after the load.")
    try:
        ensure_tables(con)
        upgrade_tables(con)
        con.execute("CHECKPOINT")  # nothing left in the WAL of the file about to be replaced
        # The fresh file is attached to this same connection, so the old file stays locked.
        old = str(con.execute("SELECT current_database()").fetchall()[0][0])
        con.execute(f"ATTACH '{_quoted(tmp)}' AS fresh")
        con.execute("USE fresh")
        ensure_tables(con)
        upgrade_tables(con)
        con.execute(f'USE "{old}"')
        con.execute("SET preserve_insertion_order = true")  # the sort must stick
        days = _days(con)
        per_day = _copy_quotes(con, old, days)
        _copy_rest(con, old, schema_hook)
        sorted_days = _record_sorted(con, per_day)
        con.execute("DETACH fresh")
        _fsync(tmp)
        _publish(tmp, db_path)  # while the old file is still attached, hence locked
        fsync_dir(db_path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        con.close()
    report = CompactReport(
        days=len(days),
        sorted_days=sorted_days,
        quote_rows=sum(per_day.values()),
        bytes_before=before,
        bytes_after=db_path.stat().st_size,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "compact db=%s days=%d rows=%d bytes_before=%d bytes_after=%d s=%.1f",
        db_path,
        report.days,
        report.quote_rows,
        before,
        report.bytes_after,
        report.seconds,
    )
    return report


def _publish(tmp: Path, db_path: Path) -> None:
    tmp.replace(db_path)  # atomic on one file system


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
