"""Compaction of a closed lake day: its rows sorted into a few zstd files, in one commit.

Where it sits: beside ``lake.writer``, over ``lake.tables`` (and ``lake.reader``'s scan of
lake files, shared with the desk); ``nsechain lake compact`` calls
``compact_days``. Time comes in as an argument (the CLI passes the wall clock).

One day of one table, streamed, so memory stays bounded whatever the day's size:

1. **Plan**: pyiceberg lists the day partition's data files (a day never spans partitions).
2. **Sort**: DuckDB reads them (``read_parquet``; an Arrow dataset on the table's own
   filesystem for ``s3://``) and sorts by ``SORT_KEYS`` under ``lake_compact_memory_mb``,
   spilling to ``<data_dir>/lake/sort-tmp`` beyond it.
3. **Write**: the sorted batches stream into Parquet files (zstd level ``ZSTD_LEVEL``, Iceberg
   field ids), a new file at a symbol boundary once ``FILE_ROWS`` rows are written, so each
   file covers a range of symbols and the desk's plan skips the files of other symbols.
4. **Commit**: one ``overwrite`` snapshot deletes exactly the planned files and adds the new
   ones, refused beforehand unless both hold the same number of rows.

A writer committing meanwhile makes the commit fail (pyiceberg's own retries are off,
``lake.tables``). The retry re-plans the day: the same files as before means the commit lost
its race to another day's rows, and the sorted files are committed as they are; different
files (rows came into this day) means they are deleted and the day is sorted again. No row is
lost or doubled either way.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nsechain.config import Settings
from nsechain.lake.reader import scan_sql
from nsechain.lake.tables import (
    SORT_KEYS,
    TABLES,
    LakeError,
    LakeTable,
    commit_with_retry,
    days_filter,
    open_catalog,
    open_table,
    partition_day,
)

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["COMPACT_KEY", "FILE_ROWS", "ZSTD_LEVEL", "compact_day", "compact_days", "day_files"]

log = logging.getLogger(__name__)
COMPACT_KEY = "nsechain.compacted-day"
#: zstd 9 against pyarrow's 3: 7 % smaller files for a one-off rewrite (bench_lake).
ZSTD_LEVEL = 9
#: Rows per compacted file, at least (it ends at the next symbol): about 5 files a full day.
FILE_ROWS = 4_000_000
#: Rows per row group (pyarrow's default): smaller groups would prune finer but compress worse.
ROW_GROUP_ROWS = 1 << 20


@dataclass
class _Rewrite:
    """One attempt's sorted files, and the planned files they replace."""

    sources: list[DataFile]
    written: list[str]
    rows: int


def _spec(table: Table) -> LakeTable:
    return next(t for t in TABLES.values() if t.name == table.name()[-1])


def day_files(table: Table) -> dict[date, int]:
    """Data files per partition day of the current snapshot."""
    counts: dict[date, int] = {}
    if table.current_snapshot() is None:
        return counts
    for part in table.inspect.files().column("partition").to_pylist():
        day = next(iter(part.values()))
        counts[day] = counts.get(day, 0) + 1
    return counts


def _plan(table: Table, column: str, day: date) -> list[DataFile]:
    """The data files of ``day``'s partition in the current snapshot."""
    tasks = table.scan(row_filter=days_filter(column, day)).plan_files()
    if any(t.delete_files for t in tasks):  # nsechain never writes deletes: someone else did
        raise LakeError(f"{table.name()[-1]} {day} has delete files; compact it elsewhere")
    return [t.file for t in tasks if partition_day(t.file.partition[0]) == day]


def _sorted_batches(
    table: Table, files: list[DataFile], target: pa.Schema, settings: Settings
) -> Iterator[pa.RecordBatch]:
    import duckdb

    spill = settings.data_dir / "lake" / "sort-tmp"
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": f"{settings.lake_compact_memory_mb}MB",
        "temp_directory": str(spill),
        "preserve_insertion_order": False,  # ORDER BY still orders; the scan may not buffer
    }
    try:
        with duckdb.connect(config=config) as con:
            con.execute("SET enable_progress_bar = false")  # a bar on the user's terminal
            paths = [f.file_path for f in files]
            source = scan_sql(con, table, paths, "nsechain_compact_source")
            keys = ", ".join(k for k in SORT_KEYS if k in target.names)
            columns = ", ".join(f'"{name}"' for name in target.names)
            query = con.sql(f"SELECT {columns} FROM {source} ORDER BY {keys}")
            for batch in query.to_arrow_reader(1 << 20):
                yield pa.Table.from_batches([batch]).cast(target).to_batches()[0]
    except (duckdb.OutOfMemoryException, OSError) as exc:
        if "Out of Memory" not in str(exc):  # DuckDB's, also when pyarrow's reader relays it
            raise
        raise LakeError(
            f"compacting {table.name()[-1]}: the sort ran out of the "
            f"lake_compact_memory_mb={settings.lake_compact_memory_mb} it may hold; raise it "
            "(1024 sorts a 20.7M-row day) or free memory; nothing was committed"
        ) from None
    finally:
        shutil.rmtree(spill, ignore_errors=True)


class _Files:
    """Sorted batches into Parquet files under ``folder``: a new file once ``FILE_ROWS`` rows
    are in one, at the next change of symbol (so no symbol spans two files)."""

    def __init__(self, table: Table, folder: str, target: pa.Schema) -> None:
        self.table, self.folder, self.target = table, folder, target
        self.stem = f"compacted-{uuid.uuid4().hex[:12]}"
        self.written: list[str] = []
        self.rows = self._in_file = 0
        self._sink: Any = None
        self._writer: pq.ParquetWriter | None = None
        self._last: str | None = None  # the symbol of the last row written
        self._held: list[pa.RecordBatch] = []  # rows of the next row group
        self._by_symbol = "symbol" in target.names

    def add(self, batch: pa.RecordBatch) -> None:
        while batch.num_rows:
            if self._writer is None:
                self._open()
            cut = batch.num_rows
            if self._by_symbol and FILE_ROWS - self._in_file < cut:
                cut = _cut(batch.column("symbol"), max(FILE_ROWS - self._in_file, 0), self._last)
            if cut:
                self._write(batch.slice(0, cut))
            batch = batch.slice(cut)
            if batch.num_rows:  # this file is full, and ends at a symbol's last row
                self.close()

    def _open(self) -> None:
        self.written.append(f"{self.folder}/{self.stem}-{len(self.written):03d}.parquet")
        self._sink = self.table.io.new_output(self.written[-1]).create(overwrite=False)
        self._writer = pq.ParquetWriter(
            self._sink, self.target, compression="zstd", compression_level=ZSTD_LEVEL
        )
        self._in_file = 0

    def _write(self, part: pa.RecordBatch) -> None:
        self._held.append(part)
        self._in_file += part.num_rows
        self.rows += part.num_rows
        if self._by_symbol:
            self._last = part.column("symbol")[-1].as_py()
        if sum(b.num_rows for b in self._held) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        """One row group of the held batches (DuckDB hands over ~123k rows at a time)."""
        if self._held and self._writer is not None:
            group = pa.Table.from_batches(self._held)
            self._writer.write_table(group, row_group_size=group.num_rows)
        self._held = []

    def close(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.close()
            self._sink.close()
            self._writer = None


def _rewrite(table: Table, day: date, files: list[DataFile], settings: Settings) -> _Rewrite:
    """Sort ``files`` into new files under the day's partition folder (not committed)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    spec = _spec(table)
    # Iceberg's schema with its field ids, in the string type of every other file of the lake.
    target = pa.schema(
        [
            f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f
            for f in schema_to_pyarrow(table.schema())
        ]
    )
    folder = f"{table.location().rstrip('/')}/data/{spec.day_column}_day={day.isoformat()}"
    out = _Files(table, folder, target)
    try:
        for batch in _sorted_batches(table, files, target, settings):
            out.add(batch)
        out.close()
    except BaseException:
        out.close()
        _delete(table, out.written)
        raise
    return _Rewrite(files, out.written, out.rows)


def _cut(symbols: pa.Array, room: int, last: str | None) -> int:
    """Where a full file ends in this batch: the first row from ``room`` on whose symbol
    differs from the row before it (``last`` before the batch); the batch's length if none."""
    before = last if room == 0 else symbols[room - 1].as_py()
    if before is None:
        return room
    rest = symbols.slice(room)
    found = pc.index(pc.not_equal(rest, pa.scalar(before, symbols.type)), True).as_py()
    return len(symbols) if found < 0 else room + int(found)


def _delete(table: Table, paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            table.io.delete(path)


def _commit(table: Table, day: date, done: _Rewrite) -> None:
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    new = [parquet_file_to_data_file(table.io, table.metadata, p) for p in done.written]
    before = sum(f.record_count for f in done.sources)
    after = sum(f.record_count for f in new)
    if before != after or after != done.rows:  # cannot happen; refuse loudly if it ever does
        raise LakeError(
            f"compaction of {table.name()[-1]} {day}: {before} rows planned, {done.rows} "
            f"sorted, {after} written; nothing was committed"
        )
    with (
        table.transaction() as txn,
        txn.update_snapshot(snapshot_properties={COMPACT_KEY: day.isoformat()}).overwrite() as ow,
    ):
        for old in done.sources:
            ow.delete_data_file(old)
        for data_file in new:
            ow.append_data_file(data_file)


def compact_day(table: Table, day: date, settings: Settings) -> tuple[int, int, int]:
    """Rewrite ``day`` of ``table`` sorted, in one atomic overwrite: (files before, files
    after, rows)."""
    column = _spec(table).day_column
    held: list[_Rewrite] = []

    def attempt() -> _Rewrite:
        table.refresh()
        files = _plan(table, column, day)
        paths = {f.file_path for f in files}
        if held and set(held[0].written) <= paths and held[0].written:
            return held[0]  # the last commit did land after all (its answer was lost)
        if held and {f.file_path for f in held[0].sources} != paths:
            log.info("lake_compact_replan table=%s day=%s", table.name()[-1], day)
            _delete(table, held.pop().written)  # rows came into the day: sort it again
        if not files:
            return _Rewrite([], [], 0)
        if not held:
            held.append(_rewrite(table, day, files, settings))
        _commit(table, day, held[0])
        return held[0]

    # A failure other than a lost race leaves the sorted files as orphans, never deletes them:
    # a commit whose answer was lost may have landed (``remove_orphans`` checks references).
    done = commit_with_retry(
        attempt, settings.lake_commit_deadline_s, f"compact {table.name()[-1]} {day}"
    )
    return len(done.sources), len(done.written), done.rows


def compact_days(settings: Settings, today: date, only: date | None = None) -> Iterator[str]:
    """Compact ``only``, or every day before ``today`` held in more than one file."""
    with open_catalog(settings) as catalog:
        for kind in TABLES:
            table = open_table(catalog, settings.lake_namespace, kind)
            counts = day_files(table)
            days = [only] if only else sorted(d for d, n in counts.items() if d < today and n > 1)
            for day in days:
                before, after, rows = compact_day(table, day, settings)
                log.info(
                    "lake_compact table=%s day=%s files=%d->%d rows=%d",
                    kind,
                    day,
                    before,
                    after,
                    rows,
                )
                yield f"compacted {kind} {day}: files={before}->{after} rows={rows}"
