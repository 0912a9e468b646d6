"""The batch thread's work: load every pending tick file into DuckDB, exactly once.

Where it sits: under ``OptionsThreadedManager`` (``collector/manager.py``), which runs
``Batcher.loop`` on its supervised batch thread and calls ``recover`` before the first
interval. The loading itself (one transaction per batch, the manifest, the moves to
processed) is ``store/loader.py``; here are the schedule around it (every
``batch_interval_s``, sooner after a failed load, a final load once collection has written its
last file) and the counters the status shows. A locked database only delays a load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from nsechain.analytics.views import create_views
from nsechain.collector.workers import StopToken
from nsechain.config import Settings
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store.loader import Loader, LoadResult
from nsechain.timeutil import iso, now_ist

__all__ = ["BatchStats", "Batcher", "make_loader"]

log = logging.getLogger(__name__)

#: After a failed load (lock held, disk trouble) try again sooner than a full batch interval.
LOAD_RETRY_S = 15.0


def make_loader(settings: Settings) -> Loader:
    """The batch loader for these settings, creating the analytics views on its first load."""
    return Loader(
        settings.db_path,
        settings.pending_dir,
        settings.processed_dir,
        settings.quarantine_dir,
        schema_hook=create_views,
    )


class BatchStats:
    def __init__(self) -> None:
        self.batches = 0
        self.files_loaded = 0
        self.rows_loaded = 0
        self.fetch_rows_loaded = 0
        self.lock_waits = 0
        self.last_batch_at: datetime | None = None
        self.last_error: str | None = None

    def report(self) -> dict[str, Any]:
        """The batch counters for the status."""
        return {
            "last_batch_at": iso(self.last_batch_at),
            "batches": self.batches,
            "files_loaded": self.files_loaded,
            "rows_loaded": self.rows_loaded,
            "fetch_rows_loaded": self.fetch_rows_loaded,
            "lock_waits": self.lock_waits,
        }


class Batcher:
    """Loads pending files on demand or on a schedule; one load at a time."""

    def __init__(self, settings: Settings, loader: Loader) -> None:
        self.settings = settings
        self.loader = loader
        self.stats = BatchStats()
        self._lock = threading.Lock()

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
            wait = self.settings.batch_interval_s if self.load_now() else retry
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
                self.stats.last_error = str(exc)
                log.error("load failed error=%r", str(exc))
                return None
            b = self.stats
            b.batches += 1
            b.files_loaded += result.files
            b.rows_loaded += result.quote_rows
            b.fetch_rows_loaded += result.fetch_rows
            b.last_batch_at = now_ist()
            b.last_error = None
            return result
