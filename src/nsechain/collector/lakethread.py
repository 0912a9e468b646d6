"""The lake thread of ``collect``: this collector's processed tick files into the Iceberg lake.

Where it sits: under ``OptionsThreadedManager`` (a supervised ``Worker`` of its own, started
only when ``lake_catalog_url`` is set), over ``nsechain.lake`` (imported here lazily: the lake
is an optional extra). Every ``batch_interval_s``, after the batch thread's loads have moved
files to processed, it commits them (``lake.writer``: exactly once, its own retries), then
applies ``local_retention_days`` (``lake.retention``) under the batch thread's load lock, so a
deletion never runs beside a load.

A failing catalog or warehouse never stops collection: the error is counted, logged (repeats
collapse to DEBUG), shown in the status (``lake_thread``: last commit, files not yet in the
lake, errors), and the next pass opens the catalog afresh. Tick files wait in processed/ and
the journal keeps any batch it had started, so nothing is lost while the lake is away.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from nsechain.collector.clock import Clock
from nsechain.collector.workers import StopToken, Worker
from nsechain.config import Settings
from nsechain.timeutil import iso

if TYPE_CHECKING:
    from nsechain.lake.writer import LakeWriter

__all__ = ["LakeLoop"]

log = logging.getLogger(__name__)


class LakeLoop:
    """One pass per ``batch_interval_s`` (and a first one at start); health for the status."""

    def __init__(
        self, settings: Settings, clock: Clock, load_lock: threading.Lock | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._load_lock = load_lock or threading.Lock()
        self._writer: LakeWriter | None = None
        self.commits = self.files = self.rows = self.errors = 0
        self.last_commit_at: str | None = None
        self.last_error: str | None = None
        self.lag_files = 0
        self.retention: str | None = None
        self._last_logged: str | None = None

    def loop(self, stop: StopToken) -> None:
        try:
            self.run_once()
            while not stop.wait(self.settings.batch_interval_s):
                self.run_once()
        finally:
            self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def run_once(self) -> bool:
        """Commit what is pending, then apply retention; False (and counted) on any failure."""
        try:
            self._pass()
        except Exception as exc:  # a lake failure must never reach collection
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            level = logging.DEBUG if self.last_error == self._last_logged else logging.WARNING
            log.log(level, "lake_commit_failed errors=%d error=%r", self.errors, self.last_error)
            self._last_logged = self.last_error
            self.close()  # the next pass opens the catalog afresh
            return False
        if self.last_error is not None:
            log.info("lake_commit_recovered after_errors=%d", self.errors)
        self.last_error = self._last_logged = None
        return True

    def _pass(self) -> None:
        from nsechain.lake.retention import retain
        from nsechain.lake.writer import LakeWriter

        if self._writer is None:
            self._writer = LakeWriter(self.settings)
        now = self.clock.now()
        report = self._writer.commit_pending(now)
        if report.batches:
            self.commits += report.batches
            self.files += report.files
            self.rows += report.rows["option_quotes"]
            self.last_commit_at = iso(now)
        self.lag_files = len(self._writer.pending_files())
        if self.settings.local_retention_days is not None:
            with self._load_lock:  # never beside a load of the batch thread
                kept = retain(self.settings, now.date(), self._writer.tables)
            self.retention = kept.line() if kept.days or kept.held else self.retention

    def report(self) -> dict[str, Any]:
        return {
            "last_commit_at": self.last_commit_at,
            "commits": self.commits,
            "files_committed": self.files,
            "rows_committed": self.rows,
            "lag_files": self.lag_files,
            "errors": self.errors,
            "last_error": self.last_error,
            "retention": self.retention,
        }


def lake_worker(
    settings: Settings, clock: Clock, load_lock: threading.Lock, stop: StopToken
) -> tuple[LakeLoop, Worker] | None:
    """The lake loop and its supervised worker, or None when no lake catalog is configured."""
    if not settings.lake_catalog_url:
        return None
    lake = LakeLoop(settings, clock, load_lock)
    return lake, Worker("lake", lambda: lake.loop(stop))


def lake_section(lake: tuple[LakeLoop, Worker] | None) -> dict[str, Any]:
    """The status's ``lake_thread`` section (none without a lake)."""
    if lake is None:
        return {}
    loop, worker = lake
    return {"lake_thread": {**worker.report(), **loop.report()}}
