"""``OptionsThreadedManager``: the collection thread, the batch thread and their supervisor.

Where it sits: the top of the collector. ``nsechain collect`` builds one from Settings; the
Python API is seed-compatible::

    m = OptionsThreadedManager()
    m.start_all_threads()
    m.get_thread_status()
    m.stop_all_threads()

Threads: *collection* (``collector/collection.py``: during market hours the fetch workers of
``collector/inflight.py`` keep requests in flight; at every aligned interval what completed is
written → Parquet), *batch*
(every ``batch_interval_s`` → DuckDB, exactly once: ``collector/batch.py``), *lake* (only with
a lake catalog: processed files → Iceberg, ``collector/lakethread.py``), *monitor* (restarts
dead threads with backoff, writes ``data/status.json`` atomically every ``status_interval_s``).

Time: the collection thread lives on ``clock`` (``collector/clock.py``): IST wall time by
default, or a ``ScaledClock`` that runs a simulated day in seconds. Batch loads, status writes
and restarts stay on wall time.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import date, datetime
from types import FrameType
from typing import Any

import httpx

from nsechain.collector.batch import Batcher, make_loader
from nsechain.collector.clock import Clock, clock_of
from nsechain.collector.collection import CollectionLoop
from nsechain.collector.health import VerdictTracker
from nsechain.collector.inflight import InflightPool, default_in_flight
from nsechain.collector.lakethread import LAKE_STOP_S, lake_section, lake_worker
from nsechain.collector.session import MarketClock, TradingCalendar, market_report
from nsechain.collector.status import settings_report, write_status
from nsechain.collector.tick import Collector, TickResult
from nsechain.collector.workers import StopToken, Worker
from nsechain.config import Settings, load_settings
from nsechain.errors import StorageError
from nsechain.logs import flush_repeats
from nsechain.store.dirlock import DataDirLock
from nsechain.store.files import sweep_temp_files
from nsechain.store.loader import LoadResult
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import IST, iso, now_ist

__all__ = ["OptionsThreadedManager", "make_loader"]  # make_loader: collector/batch.py

log = logging.getLogger(__name__)


class OptionsThreadedManager:
    """Runs collection and batch loading on supervised threads."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        market: MarketClock | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._stop = StopToken()
        self.clock: Clock = clock if clock is not None else clock_of(self.settings)
        self.collector = Collector(
            self.settings, transport=transport, sleep=self._stop.sleep, clock=self.clock
        )
        self.loader = make_loader(self.settings)
        self.batcher = Batcher(self.settings, self.loader, self._closed_day)
        self.batch = self.batcher.stats
        self.market: MarketClock = (
            market
            if market is not None
            else TradingCalendar(self.settings, self.collector.holidays_body)
        )
        self.stop_reason: str | None = None
        self.verdict = VerdictTracker()
        self.pool = InflightPool(
            self.collector,
            workers=self.settings.in_flight or default_in_flight(self.settings.rate),
            stop=self._stop,
            clock=self.clock,
        )
        self.loop = CollectionLoop(
            self.settings,
            self.collector,
            self.pool,
            self.market,
            clock=self.clock,
            stop=self._stop,
            status=self.get_thread_status,
        )
        self._workers = {
            "collection_thread": Worker("collection", self.loop.run),
            "batch_thread": Worker("batch", self._batch_loop),
        }
        # Opt-in: with a lake catalog, a third thread commits processed files to the lake.
        # At a stop it commits once more after the batch thread's final load (it joins it).
        batch_done = self._workers["batch_thread"].join
        self.lake = lake_worker(
            self.settings, self.clock, self.batcher.load_lock, self._stop, batch_done
        )
        self._workers.update({"lake_thread": self.lake[1]} if self.lake else {})
        self._monitor = Worker("monitor", self._monitor_loop)
        self._started = False
        #: One collector per data dir (flock): taken before the start-up sweep touches anything.
        self.dir_lock = DataDirLock(self.settings.data_dir)

    # --- what the collection thread did (collector/collection.py) ----------------------------
    @property
    def state(self) -> str:
        return self.loop.state

    @state.setter
    def state(self, value: str) -> None:
        self.loop.state = value

    @property
    def last_tick(self) -> TickResult | None:
        return self.loop.last_tick

    @property
    def next_tick_at(self) -> datetime | None:
        return self.loop.next_tick_at

    # --- public API -------------------------------------------------------------------------
    def claim_data_dir(self) -> None:
        """Take the data dir's lock; ``DataDirBusy`` (one line naming the holder's PID) if
        another collector has it. ``start_all_threads`` and ``run_once`` call it first."""
        self.dir_lock.acquire("collect")

    def start_all_threads(self) -> None:
        if self._started:
            return
        self.claim_data_dir()
        self._started = True
        for d in (self.settings.pending_dir, self.settings.processed_dir):
            d.mkdir(parents=True, exist_ok=True)
        # The batch thread's first load reconciles and loads what a previous run left: the
        # first requests do not wait for the database (a second to open on a loaded machine).
        self._recover(load=False)
        for worker in self._workers.values():
            worker.start()
        self._monitor.start()
        log.info(
            "collector started symbols=%s rate=%s interval_s=%s batch_interval_s=%s base_url=%s",
            ",".join(self.settings.symbols),
            self.settings.rate,
            self.settings.interval_s,
            self.settings.batch_interval_s,
            self.settings.base_url,
        )

    def get_thread_status(self) -> dict[str, Any]:
        """The status (also written to status.json), built from what each part reports."""
        tick = self.last_tick
        col, bat = self._workers["collection_thread"], self._workers["batch_thread"]
        status: dict[str, Any] = {
            "updated_at": iso(now_ist()),
            "pid": os.getpid(),
            "state": self.state,
            "market": self._market_report(),
            "settings": settings_report(self.settings, in_flight=self.pool.workers),
            "collection_thread": {
                **col.report(),
                "last_tick_at": iso(tick.tick_at if tick else None),
                "next_tick_at": iso(self.next_tick_at),
                **self.collector.report(),
                **self.pool.report(),
                "last_tick_rows": tick.quote_rows if tick else 0,
                "last_tick_planned": tick.planned if tick else 0,
                "last_error": (tick.error if tick else None) or col.last_crash,
            },
            "batch_thread": {
                **bat.report(),
                **self.batch.report(),
                "pending_files": len(list_tick_files(self.settings.pending_dir)),
                "last_error": self.batch.last_error or bat.last_crash,
            },
            "symbols": self.collector.symbols_report(),
            "health": self.collector.health.report(),
            "stop_reason": self.stop_reason,
            **lake_section(self.lake),
        }
        status["verdict"] = self.verdict.update(status, self.clock.now())
        return status

    def _market_report(self) -> dict[str, Any] | None:
        state = getattr(self.market, "state", None)  # an injected MarketClock may have none
        if state is None:
            return None
        report = market_report(lambda: state(self.clock.now()))  # the collector's market time
        if report is not None:
            # None while NSE's (or the bundled) list covers it; else what it falls back to
            fallbacks: dict[int, str] = getattr(self.market, "fallbacks", {})
            report["calendar"] = "; ".join(fallbacks[y] for y in sorted(fallbacks)) or None
        return report

    def stop_all_threads(self, timeout: float = 60.0) -> bool:
        """Stop gracefully: end the tick in flight (keeping what it fetched), final batch.

        Returns True if every thread ended within ``timeout`` seconds and no interval was
        lost during the run (``clean=True`` in the last log line means both).
        """
        if not self._started:
            self.collector.close()
            self.dir_lock.release()
            return True
        deadline = time.monotonic() + timeout
        self._stop.set()
        ok = True
        # Order matters: the batch thread's final load must see the last tick's file, and the
        # lake's last commit the final load's files. A slow or dead lake holds the stop
        # LAKE_STOP_S at most: its journal finishes the rest at the next start.
        for name, worker in self._workers.items():
            left = max(0.1, deadline - time.monotonic())
            ended = worker.join(min(left, LAKE_STOP_S) if name == "lake_thread" else left)
            if not ended and name == "lake_thread":
                log.warning("lake thread still committing at the stop; left to the next start")
            ok &= ended
        ok &= self._monitor.join(max(0.1, deadline - time.monotonic()))
        self.pool.join(max(0.1, deadline - time.monotonic()))
        self.stop_reason = self.stop_reason or "stopped by the program (stop_all_threads)"
        self.state = "stopped"
        self.loop.next_tick_at = None
        self.collector.backlog.give_up()  # held intervals the disk never took: each logged
        self._write_status()
        flush_repeats(force=True)
        self.collector.close()
        self.dir_lock.release()
        b = self.collector.backlog
        clean = ok and b.dropped == 0
        log.log(
            logging.INFO if clean else logging.ERROR,
            "collector stopped clean=%s threads_ended=%s intervals_lost=%d rows_lost=%d",
            clean,
            ok,
            b.dropped,
            b.rows_dropped,
        )
        return clean

    def run_once(self) -> tuple[TickResult, LoadResult | None]:
        """One tick now, then one load (``nsechain collect --once``); no threads."""
        self.claim_data_dir()
        try:
            self.settings.pending_dir.mkdir(parents=True, exist_ok=True)
            self._recover()
            self.state = "collecting"
            tick = self.loop.tick(self.clock.now())
            loaded = self.load_now()
            self.stop_reason = "collect --once: one tick taken"
            self.state = "stopped"
            self._write_status()
        finally:
            self.collector.close()
            self.dir_lock.release()
        return tick, loaded

    def run_until_stopped(self, every: Callable[[], None] | None = None) -> None:
        """Start, stop on SIGINT/SIGTERM, block until stopped (main thread only).

        ``every`` is called twice a second while running (the CLI's live view).
        """

        def handler(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            log.info("signal received signal=%s; stopping", name)
            how = "Ctrl+C" if signum == signal.SIGINT else "asked to stop"
            self.stop_reason = f"{name} received ({how})"
            self._stop.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start_all_threads()
            while not self._stop.wait(0.5):
                if every is not None:
                    every()
        finally:
            self.stop_all_threads()
            if every is not None:
                every()
            for s, h in previous.items():
                signal.signal(s, h)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def workers(self) -> dict[str, Worker]:
        return self._workers

    def _recover(self, *, load: bool = True) -> None:
        """Before any tick (under the data-dir lock): sweep temp files a crash left, bring back
        what a previous run spilled, then (``load``) reconcile the manifest with the folders
        and load what it left pending.

        A locked database only delays the load; the batch thread retries. Every temp file
        under the data dir (and the spill dir) goes, not only the pending folder's: a kill
        while status.json, a quarantine body or a market cache was being written leaves one
        too. Spilled files of a run that crashed or stopped with the disk full would otherwise
        wait for this run's first good write.
        """
        try:
            sweep_temp_files(self.settings.data_dir, tree=True)
        except OSError as exc:  # a read-only disk: the preflight and the writers say more
            log.warning("temp sweep failed error=%r", str(exc))
        self.collector.backlog.recover()
        if load:
            self.batcher.recover()

    # --- batch ------------------------------------------------------------------------------
    def _closed_day(self) -> date | None:
        """Today's IST date while the market is closed (as the collection thread last saw
        it), else None: then the batch thread may sort closed days (``store.daysort``)."""
        if self.loop.market_open is not False:
            return None
        return self.clock.now().astimezone(IST).date()

    def _batch_loop(self) -> None:
        # The final load must see the collection thread's last file: it waits for it.
        self.batcher.loop(self._stop, self._workers["collection_thread"].join)

    def load_now(self) -> LoadResult | None:
        """Load every pending file now; None when the load could not run (logged, retried)."""
        return self.batcher.load_now()

    # --- monitor ----------------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        while not self._stop.wait(self.settings.status_interval_s):
            for worker in self._workers.values():
                worker.supervise(self._stop.is_set())
            self._write_status()

    def _write_status(self) -> None:
        try:
            write_status(self.settings.status_path, self.get_thread_status())
        except (OSError, StorageError) as exc:
            log.warning("status write failed error=%r", str(exc))
