"""``OptionsThreadedManager``: the collection thread, the batch thread and their supervisor.

Where it sits: the top of the collector. ``nsechain collect`` builds one from Settings; the
Python API is seed-compatible::

    m = OptionsThreadedManager()
    m.start_all_threads()
    m.get_thread_status()
    m.stop_all_threads()

Threads: *collection* (during market hours the fetch workers of ``collector/inflight.py`` keep
requests in flight; at every aligned interval what completed is written → Parquet), *batch*
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
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any

import httpx

from nsechain.collector.batch import Batcher, make_loader
from nsechain.collector.clock import Clock, clock_of, next_instant
from nsechain.collector.health import VerdictTracker
from nsechain.collector.inflight import InflightPool, default_in_flight
from nsechain.collector.lakethread import lake_section, lake_worker
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

#: Expiry and universe refreshes run this long before the open (09:00-09:15), at low priority.
PRE_OPEN = timedelta(minutes=15)
#: On a stop, wall seconds to let the fetches in flight finish before the last file is written.
STOP_GRACE_S = 5.0


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
        self.state = "starting"
        #: What the collection thread last saw (None: not asked yet); the batch thread sorts
        #: closed days only while it is False (``_closed_day``).
        self.market_open: bool | None = None
        self.stop_reason: str | None = None
        self.verdict = VerdictTracker()
        self.last_tick: TickResult | None = None
        self.next_tick_at: datetime | None = None
        self._workers = {
            "collection_thread": Worker("collection", self._collection_loop),
            "batch_thread": Worker("batch", self._batch_loop),
        }
        # Opt-in: with a lake catalog, a third thread commits processed files to the lake.
        self.lake = lake_worker(self.settings, self.clock, self.batcher.load_lock, self._stop)
        self._workers.update({"lake_thread": self.lake[1]} if self.lake else {})
        self._monitor = Worker("monitor", self._monitor_loop)
        self._started = False
        #: One collector per data dir (flock): taken before the start-up sweep touches anything.
        self.dir_lock = DataDirLock(self.settings.data_dir)
        self.pool = InflightPool(
            self.collector,
            workers=self.settings.in_flight or default_in_flight(self.settings.rate),
            stop=self._stop,
            clock=self.clock,
        )

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
        self._recover()
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
        # Order matters: the batch thread's final load must see the last tick's file.
        for worker in self._workers.values():
            ok &= worker.join(max(0.1, deadline - time.monotonic()))
        ok &= self._monitor.join(max(0.1, deadline - time.monotonic()))
        self.pool.join(max(0.1, deadline - time.monotonic()))
        self.stop_reason = self.stop_reason or "stopped by the program (stop_all_threads)"
        self.state = "stopped"
        self.next_tick_at = None
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
            tick = self._tick(self.clock.now())
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

    def _recover(self) -> None:
        """Before any tick (under the data-dir lock): sweep temp files a crash left, bring back
        what a previous run spilled, load what it left pending.

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
        self.batcher.recover()

    # --- collection -------------------------------------------------------------------------
    def _collection_loop(self) -> None:
        was_open = False
        try:
            while not self._stop.is_set():
                now = self.clock.now()
                # Ask even when ignoring hours: it keeps the calendar (and the status) current.
                market_open = self.market.is_open(now)
                self.market_open = market_open
                if not self.settings.ignore_market_hours and not market_open:
                    if was_open:
                        self._end_session(now)
                    was_open = False
                    self._wait_for_open(now)
                    continue
                was_open = True
                self.pool.resume()
                # Now, not the loop's start: the calendar may have just asked NSE (seconds).
                if self._interval(self.clock.now()):
                    break
        finally:
            # Stopping (or crashing): what completed is written, whatever is still in flight.
            self.pool.pause()
            if was_open:
                self._drain(min(STOP_GRACE_S, self.settings.timeout_s))
                self._flush(self.clock.now())

    def _interval(self, now: datetime) -> bool:
        """Wait for the next aligned instant, then write what completed; True if stopped."""
        last = self.last_tick.tick_at if self.last_tick is not None else None
        self.next_tick_at = next_instant(now, last, self.settings.interval_s)
        paused_s = self._pause_remaining()  # wall seconds: NSE's block is wall time
        if paused_s > 0:
            resume = now + timedelta(seconds=paused_s * self.clock.speed)
            why = self.collector.client.pause_reason or "a 403 block"
            self.state = f"paused after {why} until {resume.isoformat(timespec='seconds')}"
        else:
            self.state = "collecting"
        wait_s = (self.next_tick_at - self.clock.now()).total_seconds()
        if self.clock.wait(self._stop, wait_s):
            return True
        self._flush(self.next_tick_at)
        return False

    def _flush(self, at: datetime) -> None:
        result = self.collector.flush(at)
        self.collector.adapt_rate(result)
        self.last_tick = result
        self._summary(result)

    def _summary(self, result: TickResult) -> None:
        """The one INFO line per interval: what was written, requests by outcome, the verdict."""
        verdict = self.get_thread_status()["verdict"]
        requests = self.collector.health.take_interval()
        failed = sum(n for k, n in requests.items() if k not in ("ok", "stale"))
        kinds = ",".join(
            f"{k}:{n}" for k, n in sorted(requests.items()) if k not in ("ok", "stale")
        )
        log.info(
            "interval at=%s verdict=%r rows=%d requests=%d ok=%d stale=%d failed=%d%s file=%s "
            "reason=%r",
            result.tick_at.isoformat(timespec="seconds"),
            verdict["verdict"],
            result.quote_rows,
            sum(requests.values()),
            requests["ok"],
            requests["stale"],
            failed,
            f" ({kinds})" if kinds else "",
            result.path.name if result.path else "-",
            verdict["reason"],
        )
        flush_repeats()

    def _drain(self, grace_s: float) -> None:
        if not self.pool.drain(grace_s):
            log.warning(
                "fetches still in flight=%d after %.0f s; their answers are not written",
                self.pool.in_flight,
                grace_s,
            )

    def _end_session(self, now: datetime) -> None:
        """The close: stop fetching, write the last interval, then one after-close look."""
        self.pool.pause()
        self._drain(self.settings.timeout_s)
        self._flush(now)
        if self.settings.after_close_snapshot:
            # NSE keeps revising OI for a while after 15:30: one more look.
            log.info("after-close snapshot at=%s", now.isoformat(timespec="seconds"))
            self._tick(now)

    def _tick(self, at: datetime) -> TickResult:
        self.state = "collecting"
        result = self.collector.run_tick(at, self._stop.event)
        self.last_tick = result
        return result

    def _pause_remaining(self) -> float:
        # The client's pause is on its own (monotonic) clock.
        until = self.collector.client.paused_until
        return 0.0 if until is None else until - time.monotonic()

    def _wait_for_open(self, now: datetime) -> None:
        opens = self.market.next_open(now)
        if opens - now <= PRE_OPEN:
            self.pool.resume(chains=False)  # universe and expiries, before the first chain
        else:
            self.pool.pause()
        self.state = f"market closed; waiting until {opens.isoformat(timespec='minutes')}"
        self.next_tick_at = opens
        log.info(
            "market closed now=%s next_open=%s",
            now.isoformat(timespec="seconds"),
            opens.isoformat(timespec="minutes"),
        )
        # Wake at least every 5 minutes (of clock time) so status and logs stay current, and
        # at the start of the pre-open refresh window.
        to_pre_open = (opens - PRE_OPEN - now).total_seconds()
        wait_s = min((opens - now).total_seconds(), 300.0)
        if to_pre_open > 0:
            wait_s = min(wait_s, to_pre_open)
        self.clock.wait(self._stop, wait_s)

    # --- batch ------------------------------------------------------------------------------
    def _closed_day(self) -> date | None:
        """Today's IST date while the market is closed (as the collection thread last saw
        it), else None: then the batch thread may sort closed days (``store.daysort``)."""
        if self.market_open is not False:
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
