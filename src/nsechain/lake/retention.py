"""Local retention: drop old days from the local DuckDB once they are safely in the lake.

Where it sits: beside ``lake.writer``, over ``lake.ledger`` (this collector's journal),
``lake.tables`` and the store's one door to DuckDB (``store.db``). The lake thread
(``collector/lakethread.py``) runs it after each commit; ``nsechain lake retain`` runs it once.
Without ``local_retention_days`` (the default) it does nothing.

Days are UTC days (the lake's ``day()`` partition, the IST trading day for every session
moment): everything before the cutoff ``today - local_retention_days`` goes, unless a day is
not proven to be in the lake, and then that day and every later one stay:

1. **The journal.** Every processed tick file in the day folders up to the first folder after
   the day must be in a finished batch (``done/``): the first tick of a morning can hold the
   previous close, so a day's rows may sit in the next folder's first file.
2. **The lake itself.** The lake's manifests must count at least as many rows of the day as
   the local table holds (more when other shards commit to the same table). This catches a
   journal that says "done" for another catalog, or a lake that lost the day.

The deletion (quotes, fetch log, snapshot index) is one transaction, and one log line says
what went. ``loaded_files`` (the load manifest) and ``latest_snapshots`` stay: the loader's
exactly-once bookkeeping needs the first, and the desk reads a latest snapshot from the lake
when its rows are gone. DuckDB reuses the freed blocks; the file does not shrink.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nsechain.config import Settings
from nsechain.lake.ledger import Ledger
from nsechain.lake.tables import TABLES, open_catalog, open_table
from nsechain.store import paths
from nsechain.store.db import open_db
from nsechain.store.loadflag import load_wanted

if TYPE_CHECKING:
    from pyiceberg.table import Table

__all__ = ["RetentionReport", "journal_cutoff", "prune_local", "retain", "retain_once"]

log = logging.getLogger(__name__)
_DAY = "CAST(timezone('UTC', {col}) AS DATE)"
#: (table, time column) deleted together, in this order, in one transaction.
_DELETED = (
    ("option_quotes", "exchange_ts"),
    ("fetch_log", "fetched_at"),
    ("loaded_snapshots", "exchange_ts"),
)


@dataclass
class RetentionReport:
    cutoff: date | None = None  # days before it were deleted (None: nothing was due)
    days: int = 0
    rows: dict[str, int] | None = None
    held: str = ""  # why a due day stayed (the first one)

    def line(self) -> str:
        rows = " ".join(f"{k}={v}" for k, v in (self.rows or {}).items())
        held = f" held={self.held!r}" if self.held else ""
        return f"local_retention cutoff={self.cutoff} days={self.days} {rows}{held}".rstrip()


def _folder_day(rel: str) -> date:
    return datetime.strptime(rel.split("/", 1)[0], "%Y%m%d").date()


def journal_cutoff(processed_dir: Path, ledger: Ledger, wanted: date) -> tuple[date, str]:
    """The latest cutoff <= ``wanted`` the journal vouches for, and why it is lower.

    Rows before day ``c`` sit in the folders up to the first folder on or after ``c``; all of
    those must be committed. With F the first folder holding an uncommitted file and P the
    last folder before F, that holds for every ``c <= P`` and for no ``c`` in (P, F]."""
    committed = ledger.committed()
    files = [p.relative_to(processed_dir).as_posix() for p in paths.list_tick_files(processed_dir)]
    open_days = sorted({_folder_day(f) for f in files if f not in committed})
    if not open_days:
        return wanted, ""
    safe = sorted(d for d in {_folder_day(f) for f in files} if d < open_days[0])
    cutoff = min(wanted, safe[-1]) if safe else date.min
    held = "" if cutoff == wanted else f"tick files of {open_days[0]} are not in the lake yet"
    return cutoff, held


def lake_day_rows(table: Table) -> dict[date, int]:
    """Rows per partition day of the lake table's current snapshot (from its manifests)."""
    table.refresh()
    if table.current_snapshot() is None:
        return {}
    files = table.inspect.files()
    out: dict[date, int] = {}
    for part, rows in zip(
        files.column("partition").to_pylist(),
        files.column("record_count").to_pylist(),
        strict=True,
    ):
        day = next(iter(part.values()))
        out[day] = out.get(day, 0) + int(rows)
    return out


def _local_day_rows(con: Any, table: str, column: str, before: date) -> dict[date, int]:
    day = _DAY.format(col=column)
    sql = f"SELECT {day} AS d, count(*) FROM {table} WHERE {day} < $before GROUP BY d"
    return {d: int(n) for d, n in con.execute(sql, {"before": before}).fetchall()}


def prune_local(
    con: Any, cutoff: date, lake_rows: dict[str, dict[date, int]], held: str = ""
) -> RetentionReport:
    """Delete the local days before ``cutoff`` that the lake holds (``lake_rows``: rows per day
    of option_quotes and fetch_log in the lake); a day it does not hold stops the cutoff."""
    for table, column in _DELETED[:2]:
        for day, n in sorted(_local_day_rows(con, table, column, cutoff).items()):
            if lake_rows.get(table, {}).get(day, 0) < n:
                cutoff = min(cutoff, day)
                held = held or f"the lake holds fewer {table} rows of {day} than DuckDB"
    days = _local_day_rows(con, "option_quotes", "exchange_ts", cutoff)
    report = RetentionReport(cutoff, len(days), {}, held)
    if not days:
        return report
    instant = datetime.combine(cutoff, time(), UTC)
    con.execute("BEGIN TRANSACTION")
    try:
        for table, column in _DELETED:
            gone = con.execute(f"DELETE FROM {table} WHERE {column} < $cut", {"cut": instant})
            report.rows = (report.rows or {}) | {table: int(gone.fetchall()[0][0])}
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return report


def retain(
    settings: Settings, today: date, tables: dict[str, Table], ledger: Ledger | None = None
) -> RetentionReport:
    """Apply ``local_retention_days`` to the local DuckDB (``tables``: the lake's, opened;
    ``ledger``: the writer's journal, whose done journals it has read already)."""
    keep = settings.local_retention_days
    if keep is None or not settings.db_path.is_file():
        return RetentionReport()
    wanted = today - timedelta(days=keep - 1)  # keep N days, today included
    ledger = ledger or Ledger(settings.data_dir / "lake")
    cutoff, held = journal_cutoff(settings.processed_dir, ledger, wanted)
    lake_rows = {kind: lake_day_rows(table) for kind, table in tables.items()}
    with load_wanted(settings.db_path):  # readers elsewhere give way, as for a load
        con = open_db(settings.db_path, lock_timeout_s=30.0)
        try:
            report = prune_local(con, cutoff, lake_rows, held)
        finally:
            con.close()
    if report.days or report.held:
        log.info(report.line())
    return report


def retain_once(settings: Settings, today: date) -> RetentionReport:
    """``retain`` with the lake's tables opened here (``nsechain lake retain``)."""
    with open_catalog(settings) as catalog:
        tables = {k: open_table(catalog, settings.lake_namespace, k) for k in TABLES}
        return retain(settings, today, tables)
