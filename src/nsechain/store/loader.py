"""The exactly-once batch loader: pending tick files → DuckDB, in one transaction per batch.

Where it sits: the collector's batch thread calls ``Loader.load_pending()`` every few minutes
(and ``recover()`` once at start); the CLI calls it for ``nsechain load``. It reads what
``store.files`` wrote, runs one batch with ``store.batch`` and moves files along ``store.paths``.

Exactly once, at two grains:

* files — ``loaded_files`` (the manifest) is committed in the same transaction as the rows; a
  file is moved to processed only after that commit. A pending file already in the manifest
  (crash between commit and move) is just moved. A processed file missing from the manifest
  (database deleted, or restored from an older copy) is moved back to pending on the first
  load of a Loader and loaded again: processed means "its rows are in the database", so the
  folder is made true again rather than merely reported.
* snapshots — a (symbol, expiry, exchange_ts) already in ``loaded_snapshots``, or present in
  two files of one batch, is inserted once (the oldest file keeps it). Snapshot lists come from
  each file's footer, so deduplication never scans quote data; a batch without duplicates is
  the plain ``INSERT … SELECT * FROM read_parquet([...])``.

Each ``loaded_snapshots`` row also carries its snapshot's totals (CE/PE open interest and
volume, spot), from the same footer list, so put-call ratios need not sum quote rows. A
database from before those columns is upgraded, and backfilled once, on its first load.

The database is opened only for the duration of a load so other processes can read between
loads; a lock held elsewhere raises DatabaseLocked and leaves every file pending.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from nsechain.errors import ConfigError, CorruptFile, StorageError
from nsechain.store import paths
from nsechain.store.batch import BatchStats, load_batch
from nsechain.store.crashpoints import pause_point  # crash-test hook; inert unless env asks
from nsechain.store.daysort import sort_next_day
from nsechain.store.db import open_db
from nsechain.store.files import (
    TickInfo,
    fsync_dir,
    move_file,
    quarantine_file,
    read_tick_info,
    sweep_temp_files,
)
from nsechain.store.loadflag import load_wanted
from nsechain.store.tables import ensure_tables, manifest_hits, upgrade_tables
from nsechain.timeutil import now_ist

__all__ = ["LoadResult", "Loader", "open_db"]

log = logging.getLogger(__name__)

_NOTHING = BatchStats(0, 0, 0, 0)


@dataclass(frozen=True)
class LoadResult:
    """What one ``load_pending`` did. ``files`` counts files whose rows were committed."""

    files: int
    quote_rows: int
    fetch_rows: int
    skipped_snapshots: int
    load_id: str
    ms: float
    quarantined: tuple[Path, ...] = ()  # where the unusable files went
    skipped_rows: int = 0  # quote rows of the skipped snapshots
    moved: int = 0  # already in the manifest, only moved (a crash hit between commit and move)
    requeued: int = 0  # processed but missing from the manifest, moved back to pending
    move_failed: tuple[Path, ...] = ()  # committed but still pending; the next load moves them
    #: How long the load waited for the file (readers elsewhere giving way): the delay between
    #: its schedule and its start. The reader-storm checks read it from the log line.
    wait_ms: float = 0.0


@dataclass
class _Outcome:
    done: list[Path]  # pending files already in the manifest
    loaded: list[Path]  # committed by this load
    stats: BatchStats
    quarantined: list[Path]
    requeued: int


def _new_load_id() -> str:
    # Sortable and readable in logs: when it ran, plus a few random bits.
    return f"{now_ist():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _move_all(files: Sequence[Path], dest_root: Path) -> tuple[list[Path], list[Path]]:
    """Move each file to ``dest_root/<its day folder>/``; returns (moved, failed)."""
    moved: list[Path] = []
    failed: list[Path] = []
    touched: set[Path] = set()
    for src in files:
        dest_dir = dest_root / src.parent.name
        try:
            move_file(src, dest_dir)
        except OSError as exc:
            # The rows are committed; the manifest makes the next load finish this move.
            log.warning("move failed file=%s error=%r", src.name, exc)
            failed.append(src)
            continue
        moved.append(src)
        touched.update((dest_dir, src.parent))
    for folder in touched:
        fsync_dir(folder)
    return moved, failed


class Loader:
    """Loads pending tick files into ``db_path`` exactly once. One batch thread per data dir."""

    def __init__(
        self,
        db_path: Path,
        pending_dir: Path,
        processed_dir: Path,
        quarantine_dir: Path,
        *,
        lock_timeout_s: float = 0.0,
        temp_grace_s: float = 300.0,
        schema_hook: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        # Absolute paths: they are written into SQL and matched against read_parquet's filename.
        self.db_path = Path(db_path).resolve()
        self.pending_dir = Path(pending_dir).resolve()
        self.processed_dir = Path(processed_dir).resolve()
        self.quarantine_dir = Path(quarantine_dir).resolve()
        self.lock_timeout_s = lock_timeout_s
        #: Temp files younger than this are spared by the per-load sweep: a writer in this
        #: process may be filling one right now.
        self.temp_grace_s = temp_grace_s
        if any(c in str(self.pending_dir) for c in "*?[]{}"):
            raise ConfigError(
                f"pending folder {self.pending_dir} contains a glob character (*?[]{{}}), "
                "which DuckDB's read_parquet would expand; choose another data_dir"
            )
        self._recovered = False
        #: Run once per Loader after the tables exist (the analytics views): the store does
        #: not import the layers above it.
        self._schema_hook = schema_hook

    def recover(self) -> LoadResult:
        """Start-up: remove every temp file, reconcile manifest and folders, load nothing new.

        Call it before the collector starts writing (it removes temp files of any age).
        """
        sweep_temp_files(self.pending_dir)
        return self.load_pending(max_files=0)

    def load_pending(self, max_files: int | None = None) -> LoadResult:
        """Load up to ``max_files`` pending files (oldest first) in one transaction.

        Raises DatabaseLocked (files stay pending; try next batch) or StorageError.
        """
        started = time.perf_counter()
        load_id = _new_load_id()
        sweep_temp_files(self.pending_dir, min_age_s=self.temp_grace_s)
        strangers = self._quarantine_strangers()
        if self._recovered and not paths.list_tick_files(self.pending_dir):
            # Nothing to do: do not take the database lock away from readers.
            return LoadResult(0, 0, 0, 0, load_id, _ms(started), quarantined=tuple(strangers))
        with load_wanted(self.db_path):  # readers elsewhere give way (store.loadflag)
            asked = time.perf_counter()
            con = open_db(self.db_path, lock_timeout_s=self.lock_timeout_s)
            wait_ms = _ms(asked)
            try:
                out = self._load(con, max_files, load_id)
            except duckdb.Error as exc:
                # It opened but cannot be read (truncated, damaged pages): files stay pending.
                raise StorageError(f"database unusable: {exc}", path=self.db_path) from exc
            finally:
                con.close()
        if out.done or out.loaded:
            pause_point("move")  # the crash harness kills here: committed, not yet moved
        moved, failed = _move_all([*out.done, *out.loaded], self.processed_dir)
        result = LoadResult(
            files=len(out.loaded),
            quote_rows=out.stats.quote_rows,
            fetch_rows=out.stats.fetch_rows,
            skipped_snapshots=out.stats.skipped_snapshots,
            load_id=load_id,
            ms=_ms(started),
            quarantined=(*strangers, *out.quarantined),
            skipped_rows=out.stats.skipped_rows,
            moved=len(set(out.done) & set(moved)),
            requeued=out.requeued,
            move_failed=tuple(failed),
            wait_ms=wait_ms,
        )
        _log_result(result)
        return result

    def sort_closed_day(self, today: date) -> tuple[date, int] | None:
        """Sort the oldest closed, unsorted day in place (``store.daysort``), through the same
        door and flag as a load; None when every closed day is sorted (or none is loaded).

        Raises DatabaseLocked (try again later) or StorageError."""
        if not self.db_path.is_file():
            return None
        with load_wanted(self.db_path):
            con = open_db(self.db_path, lock_timeout_s=self.lock_timeout_s)
            try:
                ensure_tables(con)
                return sort_next_day(con, today)
            except duckdb.Error as exc:
                raise StorageError(f"database unusable: {exc}", path=self.db_path) from exc
            finally:
                con.close()

    # --- steps ------------------------------------------------------------------------------

    def _load(
        self, con: duckdb.DuckDBPyConnection, max_files: int | None, load_id: str
    ) -> _Outcome:
        ensure_tables(con)
        upgrade_tables(con)  # before the hook: the views look at which columns exist
        if self._schema_hook is not None:
            self._schema_hook(con)
            self._schema_hook = None
        requeued = 0
        if not self._recovered:
            requeued = self._requeue_processed(con)
            self._recovered = True
        pending = paths.list_tick_files(self.pending_dir)
        done_names = manifest_hits(con, pending, present=True)
        done = [p for p in pending if p.name in done_names]
        todo = [p for p in pending if p.name not in done_names][:max_files]
        infos, quarantined = self._read_infos(todo)
        infos, stats = self._commit_with_retry(con, infos, load_id, quarantined)
        return _Outcome(done, [i.path for i in infos], stats, quarantined, requeued)

    def _requeue_processed(self, con: duckdb.DuckDBPyConnection) -> int:
        processed = paths.list_tick_files(self.processed_dir)
        missing = manifest_hits(con, processed, present=False)
        if not missing:
            return 0
        back = [p for p in processed if p.name in missing]
        moved, _ = _move_all(back, self.pending_dir)
        log.warning(
            "reconcile requeued=%d reason=processed_not_in_manifest first=%s db=%s",
            len(moved),
            back[0].name,
            self.db_path,
        )
        return len(moved)

    def _quarantine_strangers(self) -> list[Path]:
        """A file in pending whose name is not a tick file's would stay there forever,
        unloaded and unmentioned: move it to quarantine, saying why."""
        moved: list[Path] = []
        for path in paths.list_strangers(self.pending_dir):
            where = "in a day folder" if path.parent != self.pending_dir else "at the top"
            reason = (
                f"not a tick file ({where} of the pending folder; tick files are named "
                "YYYYMMDD/tick_YYYYMMDDTHHMMSS_<8 hex>.parquet): nothing loads it, so it was "
                "moved here; if it holds data, import it with `nsechain import`"
            )
            try:
                moved.append(quarantine_file(self.quarantine_dir, path, reason))
            except StorageError as exc:  # gone meanwhile, or a read-only disk: next load
                log.warning("stranger not quarantined file=%s error=%r", path, str(exc))
        return moved

    def _read_infos(self, todo: Sequence[Path]) -> tuple[list[TickInfo], list[Path]]:
        infos: list[TickInfo] = []
        quarantined: list[Path] = []
        for path in todo:
            try:
                infos.append(read_tick_info(path))
            except FileNotFoundError:
                continue  # moved away since the listing; nothing to load
            except CorruptFile as exc:
                quarantined.append(quarantine_file(self.quarantine_dir, path, str(exc)))
        return infos, quarantined

    def _commit_with_retry(
        self,
        con: duckdb.DuckDBPyConnection,
        infos: list[TickInfo],
        load_id: str,
        quarantined: list[Path],
    ) -> tuple[list[TickInfo], BatchStats]:
        # A footer can be fine while a data page is not; then the insert fails. Find the bad
        # files by reading them fully, quarantine them, and retry the rest once.
        for attempt in (1, 2):
            if not infos:
                break
            try:
                return infos, load_batch(con, infos, load_id)
            except duckdb.Error as exc:
                bad = self._probe(infos)
                if not bad or attempt == 2:
                    raise StorageError(f"load failed: {exc}", path=self.db_path) from exc
                quarantined.extend(bad.values())
                infos = [i for i in infos if i.path not in bad]
        return [], _NOTHING

    def _probe(self, infos: Sequence[TickInfo]) -> dict[Path, Path]:
        """Read every file fully; quarantine those that fail. Returns {pending: quarantined}."""
        bad: dict[Path, Path] = {}
        for info in infos:
            try:
                rows = pq.read_table(info.path).num_rows
                if rows != info.quote_rows:
                    raise ValueError(f"footer says {info.quote_rows} rows, data has {rows}")
            except (OSError, ValueError, pa.ArrowException) as exc:
                reason = str(CorruptFile(f"unreadable data pages: {exc}", path=info.path))
                bad[info.path] = quarantine_file(self.quarantine_dir, info.path, reason)
        return bad


def _log_result(r: LoadResult) -> None:
    busy = r.files or r.quarantined or r.moved or r.requeued or r.move_failed
    log.log(
        logging.INFO if busy else logging.DEBUG,
        "load files=%d quote_rows=%d fetch_rows=%d skipped_snapshots=%d skipped_rows=%d "
        "quarantined=%d moved=%d requeued=%d move_failed=%d ms=%.0f wait_ms=%.0f "
        "load_id=%s",
        r.files,
        r.quote_rows,
        r.fetch_rows,
        r.skipped_snapshots,
        r.skipped_rows,
        len(r.quarantined),
        r.moved,
        r.requeued,
        len(r.move_failed),
        r.ms,
        r.wait_ms,
        r.load_id,
    )
