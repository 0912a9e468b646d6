"""``nsechain rebuild``: re-create the DuckDB database from the tick files on disk.

Where it sits: beside the loader (``store.loader``), called by the CLI with the data dir's lock
held (no collector may load at the same time). The tick files are the record: every row the
database holds came from a file now in processed (or still pending), and each file carries its
fetch log and snapshot list. So a damaged database (zero bytes, truncated, a broken header) is
moved aside — never deleted — and the loader is pointed at a fresh file: its first load moves
every processed file missing from the (empty) manifest back to pending, then loads them in
batches, exactly once per file and per snapshot. Interrupted half-way, the rest stays pending
and the next load (a collector's, or another rebuild) finishes it.

A healthy database is left alone unless ``force`` is given; an absent one is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store import paths
from nsechain.store.db import open_db
from nsechain.store.loader import Loader
from nsechain.timeutil import now_ist

__all__ = ["RebuildResult", "check_database", "rebuild_database"]

log = logging.getLogger(__name__)

#: Files per transaction: a year of ticks in one transaction would hold everything in memory.
BATCH_FILES = 500
_HEADERS = 3 * 4096


@dataclass(frozen=True)
class RebuildResult:
    moved_aside: Path | None  # where the old file went (None: there was none)
    problem: str | None  # what was wrong with it (None: healthy, rebuilt on request)
    files: int
    quote_rows: int
    fetch_rows: int
    skipped_snapshots: int
    quarantined: int


def check_database(db_path: Path) -> str | None:
    """None if ``db_path`` opens and its manifest reads; else what is wrong, in one line.

    A missing file is not a problem (the first load creates it). A lock held by another
    process raises ``DatabaseLocked``: that says nothing about the file's health.
    """
    if not db_path.exists():
        return None
    if db_path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    try:
        con = open_db(db_path, read_only=True)
    except DatabaseLocked:
        raise
    except StorageError as exc:
        return str(exc)
    try:
        return _truncated(con, db_path) or _unreadable(con)
    finally:
        con.close()


def _truncated(con: duckdb.DuckDBPyConnection, db_path: Path) -> str | None:
    """The file is shorter than its own header says (three 4 KiB headers, then blocks)."""
    row = con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
    if row is None:
        return None
    need = _HEADERS + int(row[0]) * int(row[1])
    size = db_path.stat().st_size
    return f"truncated: {size} bytes, its header says {need}" if size < need else None


def _unreadable(con: duckdb.DuckDBPyConnection) -> str | None:
    """Read the manifest tables whole (small) and the quotes' row count."""
    try:
        for table in ("loaded_files", "loaded_snapshots"):
            con.execute(f"SELECT * FROM {table}").fetchall()
        con.execute("SELECT count(*) FROM option_quotes").fetchone()
    except duckdb.CatalogException:
        return None  # a database the loader has not filled yet: it creates the tables
    except duckdb.Error as exc:
        return f"cannot read: {exc}"
    return None


def _move_aside(db_path: Path) -> Path:
    stamp = now_ist().strftime("%Y%m%dT%H%M%S")
    target = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    db_path.replace(target)
    wal = db_path.with_name(db_path.name + ".wal")  # a WAL belongs to the file moved aside
    if wal.exists():
        wal.replace(target.with_name(target.name + ".wal"))
    log.warning("rebuild moved_aside=%s", target)
    return target


def rebuild_database(
    loader_factory: Callable[[], Loader], *, force: bool = False
) -> RebuildResult | None:
    """Move the database aside and load every tick file again. None: healthy, left alone."""
    loader = loader_factory()
    db_path = loader.db_path
    problem = check_database(db_path)
    if problem is None and not force and db_path.exists():
        return None  # healthy: left alone (an absent file is simply built)
    aside = _move_aside(db_path) if db_path.exists() else None
    files = quote_rows = fetch_rows = skipped = quarantined = 0
    while True:
        result = loader.load_pending(max_files=BATCH_FILES)
        files += result.files
        quote_rows += result.quote_rows
        fetch_rows += result.fetch_rows
        skipped += result.skipped_snapshots
        quarantined += len(result.quarantined)
        left = paths.list_tick_files(loader.pending_dir)
        if not left or (result.files == 0 and not result.quarantined):
            break  # done, or nothing moved (files the manifest already has are only moved)
    return RebuildResult(aside, problem, files, quote_rows, fetch_rows, skipped, quarantined)
