"""The DuckDB side of the loader: connecting, the tables, and one batch's transaction.

Where it sits: ``store.loader`` decides *which* files to load and moves them; this module opens
the database (``open_db``: the one door, also used by the desk, the dashboard and ``status``)
and runs the SQL of one exactly-once batch (``load_batch``). Everything here is vectorised:
Arrow tables registered as views and ``read_parquet`` scans, never ``executemany``.

Tables: ``ensure_tables`` creates what is missing in its first shape; ``upgrade_tables`` then
adds later columns (the per-snapshot totals of ``loaded_snapshots``) with ``ALTER TABLE … ADD
COLUMN IF NOT EXISTS`` and backfills them. A new database and one made before a change take
the same path, so the upgrade runs on every fresh database, not only on old ones; and tools
that fill the first shape themselves (tests, imports) keep working.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from nsechain.contract import (
    FETCH_LOG_SCHEMA,
    QUOTES_SCHEMA,
    SNAPSHOT_TOTALS,
    SNAPSHOTS_SCHEMA,
    duckdb_ddl,
)
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store import paths
from nsechain.store.crashpoints import pause_point  # crash-test hook; inert unless env asks
from nsechain.store.files import TickInfo
from nsechain.store.loadflag import wait_while_wanted

__all__ = [
    "BatchStats",
    "ensure_tables",
    "is_lock_error",
    "load_batch",
    "manifest_hits",
    "open_db",
    "snapshot_totals_columns",
    "upgrade_tables",
]

log = logging.getLogger(__name__)

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
)

_DUCK_TYPES = {pa.float64(): "DOUBLE", pa.int64(): "BIGINT"}
#: Columns added to loaded_snapshots after its first shape, with their DuckDB types. They are
#: nullable: NULL means "totals not known" (a row no loader of this version wrote and the
#: backfill could not fill), never zero; readers then sum option_quotes instead.
_TOTALS_DDL: tuple[tuple[str, str], ...] = tuple(
    (name, _DUCK_TYPES[SNAPSHOTS_SCHEMA.field(name).type]) for name in SNAPSHOT_TOTALS
)

_LOCK_MARKERS = ("could not set lock", "conflicting lock")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")

Connection = duckdb.DuckDBPyConnection


# --- connecting --------------------------------------------------------------------------------


def is_lock_error(message: str) -> bool:
    """The one lock rule: DuckDB's message says another process holds the file."""
    return any(marker in message.lower() for marker in _LOCK_MARKERS)


def _locked_message(message: str, waited: float, hint: str) -> str:
    match = _HOLDER.search(message)
    who = f" (process {match['pid']}, {match['prog']})" if match else ""
    return (
        f"another process holds the database lock{who}; gave up after {waited:g} s: try again "
        f"later, or give it a longer timeout to retry for.{hint} (DuckDB: {message})"
    )


def _connect_once(db_path: Path, read_only: bool) -> Connection | str:
    """A connection, or DuckDB's message while another process holds the file's lock."""
    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if is_lock_error(message):
            return message
        if read_only and "does not exist" in message:
            msg = "no such database; run the collector first, or pass the right --db path"
            raise StorageError(msg, path=db_path) from None
        raise StorageError(f"cannot open database: {exc}", path=db_path) from exc
    except duckdb.ConnectionException as exc:
        # This process already has the file open with other settings (e.g. the loader has it
        # read-write while a reader here asks read-only): over when that connection closes.
        msg = (
            f"open elsewhere in this process: {exc}; in the collector's process, pass a cursor"
            " of its connection instead of the path"
        )
        raise DatabaseLocked(msg, path=db_path) from exc


def open_db(
    db_path: Path, read_only: bool = False, *, lock_timeout_s: float = 0.0, hint: str = ""
) -> Connection:
    """The one door to the DuckDB file, for the loader, the desk, the dashboard and ``status``.

    One retry policy: while another process holds the lock, retry (50 ms doubling to 1 s)
    until ``lock_timeout_s`` has passed, then raise ``DatabaseLocked`` naming the holder (plus
    ``hint``, the caller's advice). Any other trouble is a ``StorageError`` at once.
    """
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        if read_only:  # a reader gives way while the loader wants the file (store.loadflag)
            wait_while_wanted(db_path, deadline)
        con = _connect_once(db_path, read_only)
        if not isinstance(con, str):
            return con
        left = deadline - time.monotonic()
        if left <= 0:
            raise DatabaseLocked(_locked_message(con, lock_timeout_s, hint), path=db_path)
        time.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)


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
    in one transaction. A no-op (one catalog query) once done; returns the snapshots filled.

    The backfill runs once, when the columns are added: one aggregate over ``option_quotes``
    (~1.5 s per 20M rows here). Later rows get their totals from the tick files at load time.
    """
    have = snapshot_totals_columns(con)
    if len(have) == len(_TOTALS_DDL):
        return 0
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        for name, duck_type in _TOTALS_DDL:
            con.execute(f"ALTER TABLE loaded_snapshots ADD COLUMN IF NOT EXISTS {name} {duck_type}")
        filled = _count(con.execute(_BACKFILL))
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
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


# --- one batch -----------------------------------------------------------------------------------


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
    con.execute("BEGIN TRANSACTION")
    try:
        per_file = _mark_duplicates(con, infos)
        inserted = _insert_quotes(con, infos, per_file)
        fetch_rows = _insert_side_tables(con, infos, per_file, load_id)
        pause_point("load")  # the crash harness kills here: rows inserted, not committed
        con.execute("COMMIT")
    except BaseException:
        # The failed statement may already have ended the transaction.
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return per_file, inserted, fetch_rows
