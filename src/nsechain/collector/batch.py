"""The batch thread's counters and the database's health, for the manager's status.

Where it sits: under ``collector/manager.py``, whose batch thread calls the loader every few
minutes. Collection never depends on the database: when a load cannot open or write the DuckDB
file (damaged, zero bytes, truncated, a full disk under it), the collector keeps writing Parquet
to pending, this records since when the database is unhealthy and why, says so in one log line
(repeats of the same error are collapsed to DEBUG), and the batch thread retries. A later
successful load clears it and says how long it lasted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nsechain.store.loader import LoadResult
from nsechain.timeutil import iso, now_ist

__all__ = ["BatchStats"]

log = logging.getLogger(__name__)


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
