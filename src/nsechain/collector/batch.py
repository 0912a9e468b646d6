"""The batch thread's work: load every pending tick file into DuckDB, exactly once.

Where it sits: under ``OptionsThreadedManager`` (``collector/manager.py``), which runs
``Batcher.loop`` on its supervised batch thread and calls ``recover`` before the first
interval. The loading itself (one transaction per batch, the manifest, the moves to
processed) is ``store/loader.py``; here are the schedule around it (every
``batch_interval_s``, sooner after a failed load, a final load once collection has written its
last file) and the counters the status shows. A locked database only delays a load.

Collection never depends on the database: when a load cannot open or write the DuckDB file
(damaged, zero bytes, truncated, a full disk under it), the collector keeps writing Parquet to
pending, ``BatchStats`` records since when the database is unhealthy and why, says so in one
log line (repeats of the same error are collapsed to DEBUG), and the batch thread retries. A
later successful load clears it and says how long it lasted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from nsechain.analytics.views import create_views
from nsechain.collector.workers import StopToken
from nsechain.config import Settings
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store.loader import Loader, LoadResult
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import iso, now_ist

__all__ = ["LOAD_LOCK_WAIT_S", "BatchStats", "Batcher", "make_loader"]

log = logging.getLogger(__name__)

#: After a failed load (lock held, disk trouble) try again sooner than a full batch interval.
LOAD_RETRY_S = 15.0
#: How long a load waits for readers in other processes to give the file up (they see its flag
#: and a dashboard interrupts its queries): tens of ms when the machine is idle, seconds when
#: it is starved (measured: up to ~2 s with 20 API clients on a shared 2-core box). Below the
#: 5 s a load may start late; a refused load waits LOAD_RETRY_S.
LOAD_LOCK_WAIT_S = 4.0


def make_loader(settings: Settings) -> Loader:
    """The batch loader for these settings, creating the analytics views on its first load.

    It waits up to ``LOAD_LOCK_WAIT_S`` for the file: readers in other processes see its flag
    (``store.loadflag``) and give way, so a busy dashboard delays a load by its reads in
    progress only.
    """
    return Loader(
        settings.db_path,
        settings.pending_dir,
        settings.processed_dir,
        settings.quarantine_dir,
        schema_hook=create_views,
        lock_timeout_s=LOAD_LOCK_WAIT_S,
    )


class BatchStats:
    def __init__(self) -> None:
        self.batches = 0
        self.files_loaded = 0
        self.rows_loaded = 0
        self.fetch_rows_loaded = 0
        self.lock_waits = 0
        self.load_failures = 0
        self.last_batch_at: datetime | None = None
        self.last_error: str | None = None
        #: When loads started failing for another reason than a lock held elsewhere; None
        #: while the database is healthy (or not yet tried).
        self.db_unhealthy_since: datetime | None = None
        self.db_error: str | None = None

    def loaded(self, result: LoadResult) -> None:
        """A load committed (or had nothing to do): the database is healthy."""
        self.batches += 1
        self.files_loaded += result.files
        self.rows_loaded += result.quote_rows
        self.fetch_rows_loaded += result.fetch_rows
        self.last_batch_at = now_ist()
        self.last_error = None
        if self.db_unhealthy_since is not None:
            lasted = (now_ist() - self.db_unhealthy_since).total_seconds()
            log.warning("database healthy again after %.0f s; loads resumed", lasted)
        self.db_unhealthy_since = self.db_error = None

    def db_failed(self, error: str, *, db_path: str, pending_files: int) -> None:
        """A load (or the start-up reconcile) could not use the database; collection goes on."""
        self.load_failures += 1
        self.last_error = error
        first = self.db_unhealthy_since is None
        if first:
            self.db_unhealthy_since = now_ist()
        level = logging.ERROR if first or error != self.db_error else logging.DEBUG
        self.db_error = error
        log.log(
            level,
            "database unhealthy db=%s pending_files=%d error=%r; collection continues to "
            "Parquet and loads are retried; if the file is damaged, stop the collector and run "
            "`nsechain rebuild` to re-create it from the tick files",
            db_path,
            pending_files,
            error,
        )

    def report(self) -> dict[str, Any]:
        """The batch counters for the status."""
        return {
            "last_batch_at": iso(self.last_batch_at),
            "batches": self.batches,
            "files_loaded": self.files_loaded,
            "rows_loaded": self.rows_loaded,
            "fetch_rows_loaded": self.fetch_rows_loaded,
            "lock_waits": self.lock_waits,
            "load_failures": self.load_failures,
            "db_unhealthy_since": iso(self.db_unhealthy_since),
            "db_error": self.db_error,
        }


class Batcher:
    """Loads pending files on demand or on a schedule; one load at a time."""

    def __init__(
        self,
        settings: Settings,
        loader: Loader,
        closed_day: Callable[[], date | None] | None = None,
    ) -> None:
        self.settings = settings
        self.loader = loader
        self.stats = BatchStats()
        self._lock = threading.Lock()
        #: Today's IST date while the market is closed, else None: when closed days may be
        #: sorted (``store.daysort``) without keeping readers waiting during a session.
        self._closed_day = closed_day if settings.sort_closed_days else None
        self._all_sorted_on: date | None = None

    @property
    def load_lock(self) -> threading.Lock:
        """Held during every load: the lake thread's retention deletes under it too."""
        return self._lock

    def recover(self) -> None:
        """Reconcile the manifest with the folders and load what a previous run left."""
        with self._lock:
            try:
                result = self.loader.recover()
            except DatabaseLocked as exc:
                self.stats.lock_waits += 1
                self.stats.last_error = str(exc)
                log.warning("recover waiting error=%r", str(exc))
                return
            except StorageError as exc:  # a damaged database: collect anyway, say so
                self._db_failed(exc)
                return
        if result.files:
            self.stats.files_loaded += result.files
            self.stats.rows_loaded += result.quote_rows
            log.info("recovered files=%d rows=%d", result.files, result.quote_rows)

    def loop(self, stop: StopToken, collection_done: Callable[[float], object]) -> None:
        """Load every ``batch_interval_s``; once stopping, wait for the collection thread's
        last file (``collection_done(timeout)``), then load a last time."""
        self.load_now()  # whatever a previous run left pending
        wait = self.settings.batch_interval_s
        while not stop.wait(wait):
            retry = min(LOAD_RETRY_S, self.settings.batch_interval_s)
            loaded = self.load_now()
            wait = self.settings.batch_interval_s if loaded else retry
            if loaded is not None and not stop.is_set():
                self.sort_closed_day()
        collection_done(self.settings.timeout_s * 2 + 10)
        self.load_now()

    def load_now(self) -> LoadResult | None:
        """Load every pending file now; None when the load could not run (logged, retried)."""
        with self._lock:
            try:
                result = self.loader.load_pending()
            except DatabaseLocked as exc:
                self.stats.lock_waits += 1
                retry = min(LOAD_RETRY_S, self.settings.batch_interval_s)
                self.stats.last_error = f"{exc}; will retry in {retry:.0f} s"
                log.warning("load waiting error=%r", str(exc))
                return None
            except StorageError as exc:
                self._db_failed(exc)
                return None
            self.stats.loaded(result)
            return result

    def sort_closed_day(self) -> tuple[date, int] | None:
        """While the market is closed: sort one closed day in place (after a load, under the
        load lock: the scheduled compaction, ``store.daysort``). Failures are logged and
        retried after the next load; nothing is lost (one transaction)."""
        today = self._closed_day() if self._closed_day is not None else None
        if today is None or today == self._all_sorted_on:
            return None  # open, or nothing left to sort today: do not take the file again
        with self._lock:
            try:
                done = self.loader.sort_closed_day(today)
            except (DatabaseLocked, StorageError) as exc:
                log.warning("day sort skipped error=%r", str(exc))
                return None
        if done is None:
            self._all_sorted_on = today
        return done

    def _db_failed(self, exc: StorageError) -> None:
        pending = len(list_tick_files(self.settings.pending_dir))
        self.stats.db_failed(str(exc), db_path=str(self.settings.db_path), pending_files=pending)
