"""The lake writer: this collector's processed tick files into the Iceberg tables, exactly once.

Where it sits: above ``store`` (it reads processed tick files, never pending ones: a file is in
the lake only after DuckDB holds it) and ``lake.tables``/``lake.ledger``; ``nsechain lake
commit`` runs it once or on a schedule.

One batch, start to end:

1. journal it (``ledger.start``: a new batch id and its file list) before anything else;
2. for each table (``option_quotes``, then ``fetch_log``): refresh, and if a snapshot summary
   already holds the batch id, that table is done; else stage the files into the warehouse and
   append them (a fast append, as ``add_files`` does) under a summary carrying the batch id,
   in one commit; a concurrent commit makes the attempt start over from the refresh
   (``commit_with_retry``), reusing the staged files and their footers' statistics, so a lost
   race costs a refresh and a commit, not a re-read;
3. ``ledger.finish``: the journal moves to done/.

A crash anywhere leaves the journal in open/, and the next run finishes that batch under the
same id, so no file is committed twice and none is forgotten. Staging writes the same bytes to
the same name again, so a re-stage after a crash is harmless; a file staged but never
committed (the batch's commit died) is an orphan until the batch is finished, and
``maintain.remove_orphans`` spares young files for exactly that reason.

Staging rewrites a tick file rather than copying it: the instants are relabelled UTC (what
Iceberg stores), the fetch log comes out of the footer into a file of its own, and a tick file
whose rows span two days (the first tick of a morning can hold the previous close) is split
into one file per day, as a ``day()`` partition requires of every file.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsechain.config import Settings
from nsechain.lake.ledger import Batch, Ledger
from nsechain.lake.tables import (
    BATCH_KEY,
    TABLES,
    LakeError,
    commit_with_retry,
    days_filter,
    open_catalog,
    open_table,
    partition_day,
    to_utc,
)
from nsechain.store import paths
from nsechain.store.files import read_tick_info

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["CommitReport", "LakeWriter", "has_batch", "pending_in", "rows_in_lake"]

log = logging.getLogger(__name__)
_DAY_US = 86_400_000_000


@dataclass
class CommitReport:
    batches: int = 0
    files: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    resumed: int = 0  # journals found open at the start (a previous run stopped mid-batch)
    already: int = 0  # (batch, table) pairs found committed on a re-check: not committed again
    conflicts: int = 0  # commit attempts that lost a race and started over

    def line(self) -> str:
        rows = " ".join(f"{k}_rows={v}" for k, v in self.rows.items())
        return (
            f"batches={self.batches} files={self.files} {rows} resumed={self.resumed} "
            f"already_committed={self.already} conflicts={self.conflicts}"
        )


def has_batch(table: Table, batch_id: str) -> bool:
    """Whether any snapshot of ``table`` (still in its metadata) carries ``batch_id``."""
    return any(
        s.summary is not None and s.summary.get(BATCH_KEY) == batch_id
        for s in table.metadata.snapshots
    )


#: Columns that tell this collector's rows apart from every other writer's: the instant each
#: response was stamped (microseconds, per response), with NSE's time and the symbol for quotes.
_ROW_KEYS = {"option_quotes": ("symbol", "exchange_ts", "fetched_at"), "fetch_log": ("fetched_at",)}


def rows_in_lake(table: Table, mine: pa.Table, batch: Batch, kind: str) -> bool:
    """Whether the batch's rows (``mine``: their ``_ROW_KEYS``) are already in ``table``.

    The check for a resumed batch whose id no snapshot names any more: all of its rows found
    means committed, none means not. Anything else is a lake this writer cannot reason about,
    and it stops rather than guess."""
    if mine.num_rows == 0:
        return False
    keys = list(mine.column_names)
    terms = []
    for column in keys[1:] if len(keys) > 1 else keys:  # the time columns bound the scan
        bounds = pc.min_max(mine.column(column))
        lo, hi = (bounds[k].as_py().isoformat() for k in ("min", "max"))
        terms.append(f"{column} >= '{lo}' AND {column} <= '{hi}'")
    theirs = table.scan(row_filter=" AND ".join(terms), selected_fields=tuple(keys)).to_arrow()
    distinct = mine.group_by(keys).aggregate([])
    found = (
        theirs.select(keys).cast(mine.schema).join(distinct, keys=keys, join_type="inner").num_rows
    )
    log.info(
        "lake_batch_check batch=%s table=%s rows=%d found_in_lake=%d",
        batch.batch_id,
        kind,
        mine.num_rows,
        found,
    )
    if found in (0, mine.num_rows):
        return bool(found)
    raise LakeError(
        f"batch {batch.batch_id}: {kind} holds {found} of its {mine.num_rows} rows; it is "
        "neither committed nor absent: check the lake before removing its journal"
    )


def pending_in(processed_dir: Path, ledger: Ledger) -> list[str]:
    """Tick files in ``processed_dir`` no batch of ``ledger`` holds yet, oldest first
    (relative paths); needs no catalog: the lake thread counts them while the lake is down."""
    taken = ledger.committed()
    taken.update(f for b in ledger.open_batches() for f in b.files)
    found = (p.relative_to(processed_dir).as_posix() for p in paths.list_tick_files(processed_dir))
    return [f for f in found if f not in taken]


def _read_kind(kind: str, source: Path) -> pa.Table:
    if kind == "option_quotes":
        return pq.read_table(source)
    return read_tick_info(source).fetch_log


def _day_numbers(data: pa.Table, column: str) -> pa.Array:
    micros = pc.cast(data.column(column), pa.int64())
    return pc.divide(micros, _DAY_US)  # integer division: instants after 1970 only


def _write(table: Table, path: str, data: pa.Table) -> None:
    with table.io.new_output(path).create(overwrite=True) as sink:
        pq.write_table(data, sink, compression="zstd")


class LakeWriter:
    """Commits ``settings.processed_dir``'s tick files to the lake; one instance per run."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self._owns_catalog = catalog is None
        self.catalog = catalog if catalog is not None else open_catalog(settings)
        self.ledger = Ledger(settings.data_dir / "lake")
        self.writer_id = f"{socket.gethostname()}:{settings.data_dir.resolve()}"
        self._until: float | None = None  # commit_pending's bound (monotonic), if any
        self._tables = {k: open_table(self.catalog, settings.lake_namespace, k) for k in TABLES}

    @property
    def tables(self) -> dict[str, Table]:
        """The lake tables this writer commits to, by kind."""
        return self._tables

    def close(self) -> None:
        """Close the catalog's connections (if this writer opened it)."""
        if self._owns_catalog:
            self.catalog.close()

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def pending_files(self) -> list[str]:
        """Processed tick files no batch holds yet, oldest first, relative to processed_dir."""
        return pending_in(self.settings.processed_dir, self.ledger)

    def commit_pending(
        self,
        now: datetime,
        on_batch: Callable[[Batch], None] | None = None,
        *,
        until: float | None = None,
    ) -> CommitReport:
        """Finish open batches, then commit every pending file in batches of lake_batch_files.

        ``now`` (the injected clock) only stamps new batch ids so that they sort by time.
        ``until`` (a ``time.monotonic()`` moment; the collector's stop) bounds the work: no
        batch starts after it, and a conflicting commit retries until it at most; what is
        left stays pending (or journalled) for the next run.
        """
        report = CommitReport()
        self._until = until
        todo = self.ledger.open_batches()
        report.resumed = len(todo)
        for batch in todo:
            if self._out_of_time():
                return report
            self._finish(batch, report, on_batch, resumed=True)
        files = self.pending_files()
        size = self.settings.lake_batch_files
        for n in range(0, len(files), size):
            if self._out_of_time():
                return report
            stamp = (now + timedelta(microseconds=n)).strftime("%Y%m%dT%H%M%S%f")
            self._finish(self.ledger.start(files[n : n + size], stamp), report, on_batch)
        return report

    def _out_of_time(self) -> bool:
        return self._until is not None and time.monotonic() >= self._until

    def _deadline_s(self) -> float:
        """How long a conflicting commit may keep retrying."""
        deadline = self.settings.lake_commit_deadline_s
        if self._until is None:
            return deadline
        return max(0.0, min(deadline, self._until - time.monotonic()))

    def _finish(
        self,
        batch: Batch,
        report: CommitReport,
        on_batch: Callable[[Batch], None] | None,
        *,
        resumed: bool = False,
    ) -> None:
        for kind in TABLES:
            self._commit(kind, batch, report, resumed=resumed)
        if on_batch is not None:
            on_batch(batch)  # crash-test hook: between the lake commits and the journal's end
        self.ledger.finish(batch)
        report.batches += 1
        report.files += len(batch.files)
        log.info("lake_batch batch=%s files=%d", batch.batch_id, len(batch.files))

    def _row_keys(self, kind: str, batch: Batch) -> pa.Table:
        """The ``_ROW_KEYS`` of every row of ``kind`` in the batch's tick files (UTC)."""
        keys = list(_ROW_KEYS[kind])
        schema = to_utc(TABLES[kind].schema)
        schema = pa.schema([schema.field(k) for k in keys])
        parts = [
            _read_kind(kind, self.settings.processed_dir / rel).select(keys).cast(schema)
            for rel in batch.files
            if (self.settings.processed_dir / rel).is_file()
        ]
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def _stage(self, kind: str, batch: Batch) -> tuple[list[str], int]:
        """Write the batch's rows of ``kind`` into the warehouse; (paths, rows)."""
        table, spec = self._tables[kind], TABLES[kind]
        root = table.location().rstrip("/")
        staged, rows = [], 0
        for rel in batch.files:
            source = self.settings.processed_dir / rel
            if not source.is_file():
                raise LakeError(
                    f"batch {batch.batch_id}: tick file {source} is gone; restore it, or remove "
                    f"{self.ledger.open_dir / batch.batch_id}.json to give the batch up"
                )
            data = _read_kind(kind, source)
            if data.num_rows == 0:
                continue
            data = data.cast(to_utc(data.schema))
            days = _day_numbers(data, spec.day_column)
            unique = sorted(pc.unique(days).to_pylist())
            stem = Path(rel).stem
            for day in unique:
                part = data if len(unique) == 1 else data.filter(pc.equal(days, day))
                iso = partition_day(day).isoformat()
                name = f"{stem}.parquet" if len(unique) == 1 else f"{stem}-{iso}.parquet"
                path = f"{root}/data/{spec.day_column}_day={iso}/{name}"
                _write(table, path, part)
                staged.append(path)
            rows += data.num_rows
        return staged, rows

    def _commit(self, kind: str, batch: Batch, report: CommitReport, *, resumed: bool) -> None:
        table = self._tables[kind]
        staged: list[tuple[list[DataFile], int]] = []  # staged and described once, for every try
        checked: list[bool] = []  # the content check runs once

        def attempt() -> None:
            table.refresh()
            if has_batch(table, batch.batch_id):
                report.already += 1
                return
            # A resumed batch whose id is in no snapshot may still be in the lake: its
            # snapshot expired (or was compacted away) while the writer was down.
            if resumed and not checked:
                checked.append(rows_in_lake(table, self._row_keys(kind, batch), batch, kind))
            if checked and checked[0]:
                report.already += 1
                return
            if not staged:
                paths, rows = self._stage(kind, batch)
                staged.append((_described(table, paths, TABLES[kind].day_column), rows))
            files, rows = staged[0]
            if files:
                props = {BATCH_KEY: batch.batch_id, "nsechain.writer": self.writer_id}
                _append(table, files, props)
            report.rows[kind] += rows

        def conflict() -> None:
            report.conflicts += 1

        what = f"lake commit {kind} batch={batch.batch_id}"
        commit_with_retry(attempt, self._deadline_s(), what, on_conflict=conflict)


def _described(table: Table, paths: list[str], day_column: str) -> list[DataFile]:
    """Staged files as Iceberg data files (their footers read once, not on every retry).

    Refused if the table already holds one of them: pyiceberg's own ``add_files`` check reads
    every manifest of the table on every try; this one plans only the files' own days."""
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    files = [parquet_file_to_data_file(table.io, table.metadata, p) for p in paths]
    days = sorted({partition_day(f.partition[0]) for f in files})
    if not days:
        return files
    where = days_filter(day_column, days[0], days[-1])
    held = {t.file.file_path for t in table.scan(row_filter=where).plan_files()}
    if twice := sorted(held.intersection(paths)):
        raise LakeError(f"lake files already committed, not adding them again: {twice[:3]}")
    return files


def _append(table: Table, files: list[DataFile], props: dict[str, str]) -> None:
    """One fast-append commit of ``files`` (``add_files`` without re-reading anything)."""
    from pyiceberg.table import TableProperties

    with table.transaction() as txn:
        if txn.table_metadata.name_mapping() is None:  # staged files carry no field ids
            mapping = txn.table_metadata.schema().name_mapping.model_dump_json()
            txn.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})
        with txn.update_snapshot(snapshot_properties=props).fast_append() as append:
            for data_file in files:
                append.append_data_file(data_file)
