"""One exactly-once load batch: quotes, fetch log, snapshot index (with each snapshot's ATM
row, ``store.summaries``) and manifest in one transaction.

Where it sits: ``store.loader`` decides *which* files to load and moves them; it calls
``load_batch`` on a connection from ``store.db.open_db`` whose tables ``store.tables`` made.
Everything here is vectorised: Arrow tables registered as views and ``read_parquet`` scans,
never ``executemany``. Deduplication is per snapshot (no key on the quotes, DESIGN.md §6).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from nsechain.contract import SNAPSHOT_TOTALS
from nsechain.store import paths
from nsechain.store.crashpoints import pause_point  # crash-test hook; inert unless env asks
from nsechain.store.db import Connection, transaction
from nsechain.store.files import TickInfo
from nsechain.store.latest import add_batch
from nsechain.store.summaries import fill_atm

__all__ = ["BatchStats", "load_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchStats:
    quote_rows: int
    fetch_rows: int
    skipped_snapshots: int
    skipped_rows: int


@dataclass(frozen=True)
class _FileStats:
    kept_rows: int = 0
    dup_snapshots: int = 0
    dup_rows: int = 0


# The oldest file of the batch keeps a snapshot unless the database already has it. The time
# range lets DuckDB skip old row groups of loaded_snapshots through their zone maps.
_MARK_DUPLICATES = """
CREATE OR REPLACE TEMP TABLE _snaps AS
SELECT b.*,
       (l.symbol IS NOT NULL
        OR row_number() OVER (PARTITION BY b.symbol, b.expiry, b.exchange_ts
                              ORDER BY b.file_ord) > 1) AS dup
FROM _batch_snaps b
LEFT JOIN (SELECT DISTINCT symbol, expiry, exchange_ts FROM loaded_snapshots
           WHERE exchange_ts BETWEEN ?::TIMESTAMPTZ AND ?::TIMESTAMPTZ) l
  ON b.symbol = l.symbol AND b.expiry = l.expiry AND b.exchange_ts = l.exchange_ts
"""

_PER_FILE = """
SELECT file_ord,
       coalesce(sum(rows) FILTER (NOT dup), 0),
       count(*) FILTER (dup),
       coalesce(sum(rows) FILTER (dup), 0)
FROM _snaps GROUP BY file_ord
"""

_INSERT_FAST = "INSERT INTO option_quotes BY NAME SELECT * FROM read_parquet({files})"

_INSERT_FILTERED = """
INSERT INTO option_quotes BY NAME
SELECT q.* EXCLUDE (filename) FROM read_parquet({files}, filename = true) q
ANTI JOIN (SELECT file_path, symbol, expiry, exchange_ts FROM _snaps WHERE dup) d
  ON q.filename = d.file_path AND q.symbol = d.symbol
 AND q.expiry = d.expiry AND q.exchange_ts = d.exchange_ts
"""


def _sql_list(files: Iterable[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"


def _batch_snapshots(infos: Sequence[TickInfo]) -> pa.Table:
    parts = []
    for ordinal, info in enumerate(infos):
        n = info.snapshots.num_rows
        parts.append(
            info.snapshots.append_column("file_ord", pa.array([ordinal] * n, pa.int32()))
            .append_column("file_name", pa.array([info.path.name] * n, pa.string()))
            .append_column("file_path", pa.array([str(info.path)] * n, pa.string()))
        )
    return pa.concat_tables(parts)


def _mark_duplicates(con: Connection, infos: Sequence[TickInfo]) -> dict[int, _FileStats]:
    """Build temp table ``_snaps`` (each batch snapshot with ``dup``); return stats per file."""
    con.register("_batch_snaps", _batch_snapshots(infos))
    try:
        bounds = con.execute(
            "SELECT min(exchange_ts)::VARCHAR, max(exchange_ts)::VARCHAR FROM _batch_snaps"
        ).fetchone()
        lo, hi = bounds if bounds and bounds[0] is not None else ("epoch", "epoch")
        con.execute(_MARK_DUPLICATES, [lo, hi])
    finally:
        con.unregister("_batch_snaps")
    rows = con.execute(_PER_FILE).fetchall()
    return {int(o): _FileStats(int(k), int(ds), int(dr)) for o, k, ds, dr in rows}


def _count(cursor: Connection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _insert_quotes(
    con: Connection, infos: Sequence[TickInfo], per_file: dict[int, _FileStats]
) -> int:
    clean: list[Path] = []
    dirty: list[Path] = []
    for ordinal, info in enumerate(infos):
        stats = per_file.get(ordinal, _FileStats())
        if stats.kept_rows == 0:
            continue  # no quotes, or every snapshot already loaded: do not even open it
        (dirty if stats.dup_snapshots else clean).append(info.path)
    inserted = 0
    if clean:  # the fast path: exactly the raw read_parquet insert
        inserted += _count(con.execute(_INSERT_FAST.format(files=_sql_list(clean))))
    if dirty:
        inserted += _count(con.execute(_INSERT_FILTERED.format(files=_sql_list(dirty))))
    return inserted


def _insert_side_tables(
    con: Connection, infos: Sequence[TickInfo], per_file: dict[int, _FileStats], load_id: str
) -> int:
    fetch = pa.concat_tables([i.fetch_log for i in infos])
    manifest = pa.table(
        {
            "file_name": pa.array([i.path.name for i in infos], pa.string()),
            "day": pa.array([paths.day_of_name(i.path.name) for i in infos], pa.date32()),
            "quote_rows": pa.array(
                [per_file.get(n, _FileStats()).kept_rows for n in range(len(infos))], pa.int64()
            ),
            "fetch_rows": pa.array([i.fetch_log.num_rows for i in infos], pa.int64()),
        }
    )
    con.register("_fetch", fetch)
    con.register("_manifest", manifest)
    try:
        con.execute("INSERT INTO fetch_log BY NAME SELECT * FROM _fetch")
        con.execute(
            "INSERT INTO loaded_snapshots BY NAME"
            f" SELECT symbol, expiry, exchange_ts, file_name, rows, {', '.join(SNAPSHOT_TOTALS)}"
            " FROM _snaps WHERE NOT dup"
        )
        add_batch(con)  # latest_snapshots, from the same list, in the same transaction
        con.execute(
            "INSERT INTO loaded_files"
            " SELECT file_name, day, quote_rows, fetch_rows, ?, now() FROM _manifest",
            [load_id],
        )
    finally:
        con.unregister("_fetch")
        con.unregister("_manifest")
    return int(fetch.num_rows)


@contextlib.contextmanager
def _unordered_inserts(con: Connection) -> Iterator[None]:
    """Let DuckDB insert from all threads in any order for the duration of a load (~1.5× faster).

    Row order in option_quotes means nothing (no key, every query sorts), and one batch spans a
    few minutes, so exchange_ts zone maps stay tight. The setting is instance-wide, so it is
    restored at once: another connection of this process sees it only during the load.
    """
    row = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    before = "true" if row is None or row[0] else "false"
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET preserve_insertion_order = {before}")


def load_batch(con: Connection, infos: Sequence[TickInfo], load_id: str) -> BatchStats:
    """Insert quotes, fetch log, snapshot index and manifest of ``infos`` in one transaction.

    The tables must be upgraded (``upgrade_tables``). Raises duckdb.Error after rolling back;
    the caller decides whether a file is to blame.
    """
    with _unordered_inserts(con):
        per_file, inserted, fetch_rows = _transaction(con, infos, load_id)
    expected = sum(s.kept_rows for s in per_file.values())
    if inserted != expected:
        # A footer's snapshot list disagrees with its data: deduplication trusted a wrong list.
        log.warning(
            "load row_mismatch inserted=%d expected=%d load_id=%s", inserted, expected, load_id
        )
    return BatchStats(
        quote_rows=inserted,
        fetch_rows=fetch_rows,
        skipped_snapshots=sum(s.dup_snapshots for s in per_file.values()),
        skipped_rows=sum(s.dup_rows for s in per_file.values()),
    )


def _transaction(
    con: Connection, infos: Sequence[TickInfo], load_id: str
) -> tuple[dict[int, _FileStats], int, int]:
    with transaction(con):
        per_file = _mark_duplicates(con, infos)
        inserted = _insert_quotes(con, infos, per_file)
        fetch_rows = _insert_side_tables(con, infos, per_file, load_id)
        fill_atm(con, "SELECT symbol, expiry, exchange_ts FROM _snaps WHERE NOT dup")
        pause_point("load")  # the crash harness kills here: rows inserted, not committed
    return per_file, inserted, fetch_rows
