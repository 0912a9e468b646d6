"""History in: ``import_paths`` (captures → tick files → the loader) and ``reprocess_day``
(a day of raw capture → the current parser → that day's rows replaced in one transaction).

Where it sits: above ``store.importer`` (parsing and choosing), ``store.loader``,
``store.db`` and ``store.tables``; the CLI (``cli.history``) calls these two functions and
prints their reports.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from nsechain.config import Settings
from nsechain.contract import SNAPSHOT_TOTALS
from nsechain.errors import ConfigError
from nsechain.store.db import open_db
from nsechain.store.files import fsync_dir, move_file, read_tick_info
from nsechain.store.importer import Conflict, Importer, ImportReport, Rejected
from nsechain.store.latest import refresh as refresh_latest
from nsechain.store.loader import Loader
from nsechain.store.rawcapture import list_raw_files
from nsechain.store.summaries import SNAPSHOT_ATM, fill_atm
from nsechain.store.tables import ensure_tables, upgrade_tables

__all__ = ["ReprocessReport", "import_paths", "reprocess_day"]

log = logging.getLogger(__name__)

_KEY_JOIN = "a.symbol = b.symbol AND a.expiry = b.expiry AND a.exchange_ts = b.exchange_ts"

# Snapshots of this import that the database already holds, and whether their stored totals
# differ (then it is a conflict, and the database's rows stay).
_AGAINST_DB = f"""
SELECT a.source, a.symbol, a.expiry, a.exchange_ts, b.file_name,
       (a.rows <> b.rows OR abs(a.ce_oi - b.ce_oi) > 1e-6 OR abs(a.pe_oi - b.pe_oi) > 1e-6
        OR a.ce_volume <> b.ce_volume OR a.pe_volume <> b.pe_volume
        OR abs(a.underlying_value - b.underlying_value) > 1e-6) IS TRUE AS differs
FROM _kept a
JOIN (SELECT DISTINCT ON (symbol, expiry, exchange_ts) * FROM loaded_snapshots) b ON {_KEY_JOIN}
ORDER BY a.source, a.symbol, a.expiry, a.exchange_ts
"""


def _has_snapshot_index(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'loaded_snapshots'"
    ).fetchone()
    return bool(row and row[0])


def _check_database(db_path: Path, importer: Importer) -> None:
    """Count snapshots the database holds already: duplicates, or conflicts if they differ."""
    kept = importer.kept_snapshots()
    if not db_path.exists() or kept.num_rows == 0:
        return
    con = open_db(db_path, lock_timeout_s=30.0)
    try:
        if not _has_snapshot_index(con):
            return
        upgrade_tables(con)
        con.register("_kept", kept)
        found = con.execute(_AGAINST_DB).fetchall()
    finally:
        con.close()
    report = importer.report
    for source, symbol, expiry, ts, file_name, differs in found:
        if differs:
            kept_by = f"the database (loaded from {file_name})"
            report.conflicts.append(Conflict(symbol, expiry, ts, kept=kept_by, dropped=source))
            log.info("import conflict %s", report.conflicts[-1])
        else:
            report.duplicates += 1
    report.snapshots = kept.num_rows - len(found)


def import_paths(
    settings: Settings,
    paths: list[Path],
    loader: Loader,
    *,
    symbol: str | None = None,
    on_file: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import every capture under ``paths`` exactly once; see ``store.importer`` for the rules.

    Missing inputs are a ConfigError naming them, before anything is read.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}; check the path")
    importer = Importer(settings.pending_dir, symbol=symbol, on_file=on_file)
    importer.add_paths(paths)
    importer.finish()
    _check_database(settings.db_path, importer)
    report = importer.report
    if not settings.db_path.exists():
        report.snapshots = importer.kept_snapshots().num_rows
    result = loader.load_pending()
    report.rows = result.quote_rows
    log.info(
        "import files=%d bodies=%d snapshots=%d rows=%d duplicates=%d conflicts=%d rejected=%d",
        report.files,
        report.bodies,
        report.snapshots,
        report.rows,
        report.duplicates,
        len(report.conflicts),
        len(report.rejected),
    )
    return report


# --- reprocess ------------------------------------------------------------------------------


@dataclass
class ReprocessReport:
    day: date
    raw_files: int = 0
    bodies: int = 0
    snapshots: int = 0  # snapshots re-derived from raw
    replaced: int = 0  # of those, snapshots the database held (their rows were replaced)
    rows_before: int = 0  # rows of the replaced snapshots before
    rows_after: int = 0  # rows of every re-derived snapshot now
    uncovered: int = 0  # snapshots of the day the raw files do not hold: left as they were
    rejected: list[Rejected] = field(default_factory=list)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> int:
    row = con.execute(sql, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _replace(
    con: duckdb.DuckDBPyConnection, files: list[Path], report: ReprocessReport, load_id: str
) -> None:
    """One transaction: drop the re-derived snapshots' old rows, insert the new ones."""
    infos = [read_tick_info(p) for p in files]
    new = pa.concat_tables(
        [
            i.snapshots.append_column("file_name", pa.array([i.path.name] * i.snapshots.num_rows))
            for i in infos
        ]
    )
    manifest = pa.table(
        {
            "file_name": [i.path.name for i in infos],
            "day": pa.array([report.day] * len(infos), pa.date32()),
            "quote_rows": [i.quote_rows for i in infos],
        }
    )
    listing = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
    con.register("_new", new)
    con.register("_manifest", manifest)
    con.execute("BEGIN TRANSACTION")
    try:
        old = "FROM option_quotes a SEMI JOIN _new b ON " + _KEY_JOIN
        report.rows_before = _count(con, f"SELECT count(*) {old}")
        report.replaced = _count(
            con, f"SELECT count(*) FROM _new a SEMI JOIN loaded_snapshots b ON {_KEY_JOIN}"
        )
        con.execute(f"DELETE FROM option_quotes a USING _new b WHERE {_KEY_JOIN}")
        con.execute(f"DELETE FROM loaded_snapshots a USING _new b WHERE {_KEY_JOIN}")
        con.execute(f"DELETE FROM {SNAPSHOT_ATM} a USING _new b WHERE {_KEY_JOIN}")
        report.rows_after = _count(
            con, f"INSERT INTO option_quotes BY NAME SELECT * FROM read_parquet({listing})"
        )
        totals = ", ".join(SNAPSHOT_TOTALS)
        con.execute(
            "INSERT INTO loaded_snapshots BY NAME SELECT symbol, expiry, exchange_ts, file_name,"
            f" rows, {totals} FROM _new"
        )
        fill_atm(con, "SELECT DISTINCT symbol, expiry, exchange_ts FROM _new")
        con.execute(
            "INSERT INTO loaded_files SELECT file_name, day, quote_rows, 0, ?, now()"
            " FROM _manifest",
            [load_id],
        )
        refresh_latest(con, "_new")  # rows were replaced: recount those (symbol, expiry)
        report.uncovered = _count(
            con,
            "SELECT count(*) FROM loaded_snapshots a ANTI JOIN _new b ON "
            + _KEY_JOIN
            + " WHERE a.exchange_ts::DATE = ?",
            [report.day],
        )
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_new")
        con.unregister("_manifest")


def _remove_empty(staging: Path) -> None:
    """Remove the staging folders; a file still there (a failed move after the commit, whose
    rows are in the database) is kept and named."""
    left = [p for p in staging.rglob("*") if p.is_file()] if staging.is_dir() else []
    if left:
        log.warning("reprocess left files=%d folder=%s", len(left), staging)
        return
    shutil.rmtree(staging, ignore_errors=True)
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # the shared "reprocess" folder, if now empty


def reprocess_day(settings: Settings, day: date) -> ReprocessReport:
    """Re-derive ``day``'s snapshots from its raw files through the current parser, and
    replace their rows in one DuckDB transaction. Snapshots the raw files do not hold stay as
    they are (raw capture may have been switched on mid-day): nothing collected is lost.
    The new tick files go to the processed folder, in the manifest, after the commit.
    """
    raw = list_raw_files(settings.raw_dir, day)
    if not raw:
        raise ConfigError(
            f"no raw capture for {day} under {settings.raw_dir / day.strftime('%Y%m%d')}; "
            "raw bodies are kept only with raw_capture = true (NSECHAIN_RAW_CAPTURE=1)"
        )
    token = secrets.token_hex(4)
    staging = settings.data_dir / "reprocess" / f"{day:%Y%m%d}-{token}"
    importer = Importer(staging)
    report = ReprocessReport(day, raw_files=len(raw))
    try:
        for path in raw:
            importer.add_file(path)
        files = importer.finish()
        report.bodies = importer.report.bodies
        report.rejected = importer.report.rejected
        report.snapshots = importer.kept_snapshots().num_rows
        if files:
            con = open_db(settings.db_path, lock_timeout_s=30.0)
            try:
                con.execute("SET TimeZone = 'Asia/Kolkata'")  # the day is an IST day
                ensure_tables(con)
                upgrade_tables(con)
                _replace(con, files, report, f"reprocess-{day:%Y%m%d}-{token}")
            finally:
                con.close()
            for path in files:
                move_file(path, settings.processed_dir / path.parent.name)
                fsync_dir(settings.processed_dir / path.parent.name)
    finally:
        _remove_empty(staging)
    log.info(
        "reprocess day=%s raw_files=%d bodies=%d snapshots=%d replaced=%d rows_before=%d "
        "rows_after=%d uncovered=%d rejected=%d",
        day,
        report.raw_files,
        report.bodies,
        report.snapshots,
        report.replaced,
        report.rows_before,
        report.rows_after,
        report.uncovered,
        len(report.rejected),
    )
    return report
