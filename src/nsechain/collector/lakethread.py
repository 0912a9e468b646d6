"""The lake thread of ``collect``: this collector's processed tick files into the Iceberg lake.

Where it sits: under ``OptionsThreadedManager`` (a supervised ``Worker`` of its own, started
only when ``lake_catalog_url`` is set), over ``nsechain.lake`` (imported here lazily: the lake
is an optional extra). Every ``batch_interval_s``, after the batch thread's loads have moved
files to processed, it commits them (``lake.writer``: exactly once, its own retries), then
applies ``local_retention_days`` (``lake.retention``) under the batch thread's load lock, so a
deletion never runs beside a load.

At a stop it waits for the batch thread's final load, then commits once more what that load
moved to processed (``FINAL_COMMIT_S`` at most, conflict retries included; no retention), so
a stopped collector leaves its lake holding every row its DuckDB holds. A lake too slow for
that leaves the rest to the next start (the journal finishes a batch it had begun), and the
manager waits for this thread ``LAKE_STOP_S`` at most: a dead catalog never holds a stop.

A failing catalog or warehouse never stops collection: the error is counted, logged (repeats
collapse to DEBUG), shown in the status (``lake_thread``: last commit, files not yet in the
lake, errors), and the next pass opens the catalog afresh. Tick files wait in processed/ and
the journal keeps any batch it had started, so nothing is lost while the lake is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nsechain.collector.clock import Clock
from nsechain.collector.workers import StopToken, Worker
from nsechain.config import Settings
from nsechain.timeutil import iso

if TYPE_CHECKING:
    from nsechain.lake.ledger import Ledger
    from nsechain.lake.writer import LakeWriter

__all__ = ["FAILED_PASSES", "FINAL_COMMIT_S", "LAKE_STOP_S", "LakeLoop", "lake_problem"]

log = logging.getLogger(__name__)

#: The stop's last commit gets this long (new batches start only before it; a conflicting
#: commit retries until it), then whatever is left waits for the next start.
FINAL_COMMIT_S = 15.0
#: How long the manager's stop waits for this thread once the batch thread has ended.
LAKE_STOP_S = FINAL_COMMIT_S + 5.0
#: Passes failed in a row (one per batch_interval_s) that make the collector's verdict degraded.
FAILED_PASSES = 3
#: A pass running longer than this many batch intervals (and STUCK_MIN_S) is stuck.
STUCK_MIN_S = 120.0
#: How long the lake thread waits for the batch thread's final load at a stop.
_FINAL_LOAD_WAIT_S = 120.0


class LakeLoop:
    """One pass per ``batch_interval_s`` (and a first one at start); health for the status."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        load_lock: threading.Lock | None = None,
        batch_done: Callable[[float], object] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._load_lock = load_lock or threading.Lock()
        self._batch_done = batch_done  # joins the batch thread: its final load comes first
        self._writer: LakeWriter | None = None
        self.commits = self.files = self.rows = self.errors = 0
        self.last_commit_at: str | None = None
        self.last_error: str | None = None
        self.lag_files = 0
        self.retention: str | None = None
        self._last_logged: str | None = None
        self.failed_passes = 0  # in a row; a good pass resets it
        self.failing_since: str | None = None  # the clock's time of the first of them
        self._pass_started: float | None = None  # monotonic, while a pass runs
        self._ledger: Ledger | None = None  # to count waiting files while the lake is down

    def loop(self, stop: StopToken) -> None:
        try:
            self.run_once()
            while not stop.wait(self.settings.batch_interval_s):
                self.run_once()
            if self._batch_done is not None:
                self._batch_done(_FINAL_LOAD_WAIT_S)
            self.run_once(until=time.monotonic() + FINAL_COMMIT_S)
        finally:
            self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def run_once(self, until: float | None = None) -> bool:
        """Commit what is pending, then apply retention; False (and counted) on any failure.

        ``until`` (monotonic): the stop's last pass, bounded in time and without retention."""
        self._pass_started = time.monotonic()
        try:
            self._pass(until)
        except Exception as exc:  # a lake failure must never reach collection
            self.errors += 1
            self.failed_passes += 1
            self.failing_since = self.failing_since or iso(self.clock.now())
            self.last_error = f"{type(exc).__name__}: {exc}"
            level = logging.DEBUG if self.last_error == self._last_logged else logging.WARNING
            log.log(level, "lake_commit_failed errors=%d error=%r", self.errors, self.last_error)
            self._last_logged = self.last_error
            self.close()  # the next pass opens the catalog afresh
            self._count_waiting()
            return False
        finally:
            self._pass_started = None
        if self.last_error is not None:
            log.info("lake_commit_recovered after_failed_passes=%d", self.failed_passes)
        self.last_error = self._last_logged = self.failing_since = None
        self.failed_passes = 0
        return True

    def _count_waiting(self) -> None:
        """``lag_files`` without the catalog (the journal and processed/ only)."""
        from nsechain.lake.ledger import Ledger
        from nsechain.lake.writer import pending_in

        if self._ledger is None:
            self._ledger = Ledger(self.settings.data_dir / "lake")
        try:
            self.lag_files = len(pending_in(self.settings.processed_dir, self._ledger))
        except (OSError, ValueError) as exc:  # a damaged journal: the commit will say more
            log.debug("lake_lag_unknown error=%r", str(exc))

    def _pass(self, until: float | None) -> None:
        from nsechain.lake.retention import retain
        from nsechain.lake.writer import LakeWriter

        if self._writer is None:
            self._writer = LakeWriter(self.settings)
        now = self.clock.now()
        report = self._writer.commit_pending(now, until=until)
        if report.batches:
            self.commits += report.batches
            self.files += report.files
            self.rows += report.rows["option_quotes"]
            self.last_commit_at = iso(now)
        self.lag_files = len(self._writer.pending_files())
        if until is not None:
            if self.lag_files:
                log.warning(
                    "lake_final_commit_incomplete files_left=%d; they are committed at the "
                    "next start (nsechain collect, or nsechain lake commit)",
                    self.lag_files,
                )
            return
        if self.settings.local_retention_days is not None:
            with self._load_lock:  # never beside a load of the batch thread
                kept = retain(self.settings, now.date(), self._writer.tables, self._writer.ledger)
            self.retention = kept.line() if kept.days or kept.held else self.retention

    def report(self) -> dict[str, Any]:
        started = self._pass_started
        return {
            "failed_passes": self.failed_passes,
            "failing_since": self.failing_since,
            "pass_running_s": None if started is None else round(time.monotonic() - started, 1),
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
    settings: Settings,
    clock: Clock,
    load_lock: threading.Lock,
    stop: StopToken,
    batch_done: Callable[[float], object] | None = None,
) -> tuple[LakeLoop, Worker] | None:
    """The lake loop and its supervised worker, or None when no lake catalog is configured."""
    if not settings.lake_catalog_url:
        return None
    lake = LakeLoop(settings, clock, load_lock, batch_done)
    return lake, Worker("lake", lambda: lake.loop(stop))


def lake_problem(lake: dict[str, Any], batch_interval_s: Any) -> str | None:
    """Why the lake makes a recording collector ``degraded`` (``collector.health``), or None.

    ``lake`` is the status's ``lake_thread`` section, ``batch_interval_s`` its settings' (read
    defensively: a status file from another version may lack it). Collection and DuckDB loads
    go on in every case: the reason says what waits and where to look."""
    if not lake:
        return None
    waiting = f"{lake.get('lag_files', 0)} tick file(s) wait in processed/ for the lake"
    where = "check lake_catalog_url and lake_warehouse; `nsechain lake commit` tries once by hand"
    if lake.get("alive") is False:
        return f"the lake thread is down ({lake.get('last_error')}); it is restarted; {waiting}"
    failed = int(lake.get("failed_passes") or 0)
    if failed >= FAILED_PASSES:
        return (
            f"the lake commit failed {failed} passes in a row since {lake.get('failing_since')} "
            f"({lake.get('last_error')}); collection goes on, {waiting}: {where}"
        )
    running = lake.get("pass_running_s")
    interval = batch_interval_s if isinstance(batch_interval_s, int | float) else 0.0
    if isinstance(running, int | float) and running > max(STUCK_MIN_S, FAILED_PASSES * interval):
        return (
            f"a lake commit has been running for {running:.0f} s (the catalog or warehouse "
            f"does not answer?); collection goes on, {waiting}: {where}"
        )
    return None


def lake_section(lake: tuple[LakeLoop, Worker] | None) -> dict[str, Any]:
    """The status's ``lake_thread`` section (none without a lake)."""
    if lake is None:
        return {}
    loop, worker = lake
    return {"lake_thread": {**worker.report(), **loop.report()}}
