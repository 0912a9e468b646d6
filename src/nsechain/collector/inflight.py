"""Requests in flight at once: the worker threads of the continuous scheduler.

Where it sits: the manager's collection thread resumes this pool when a session opens, pauses
it when the session ends, and flushes the ``Collector`` at every aligned interval. Each worker
loops: take the most overdue (symbol, expiry) from the ``DueQueue``, fetch it through the one
shared ``NseClient`` (every request takes a token from its one bucket, so the budget holds
whatever the number of workers), report back. A slow answer holds one worker; the others go on.

Priorities, in order: an overdue chain; a due refresh (the universe, a symbol's expiries);
a chain taken early (the plan's headroom spent on freshness). Before the open the pool runs
refreshes only. A 403 block pauses the client: no worker sends anything until it ends.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime
from typing import Any

from nsechain.collector.clock import Clock
from nsechain.collector.freshness import Freshness, RateMeter
from nsechain.collector.scheduler import DueQueue, Slot
from nsechain.collector.tick import Collector
from nsechain.collector.workers import StopToken
from nsechain.errors import ClientPaused, Deferred, Interrupted
from nsechain.market.plan import Plan

__all__ = ["InflightPool", "default_in_flight"]

log = logging.getLogger(__name__)

#: Wall seconds an idle worker waits before looking again.
IDLE_POLL_S = 0.2
#: The latency (wall seconds) the default number of workers fills the budget at, with margin
#: for the tail: rate × latency requests are in flight on average (Little's law). A worker's
#: turn is longer than NSE's answer: it also parses the body while other workers hold the
#: GIL. Measured (bench_inflight, 10 req/s, 1.5 s median, p99 6 s, loaded 2-core machine):
#: 30 workers (3 s) reached 0.88-0.91 of the budget, 45 (4.5 s) 0.97.
DESIGN_LATENCY_S = 4.5
MAX_WORKERS = 64

_UNIVERSE = "\0universe"  # the refresh key of the universe list (no symbol is named so)


def default_in_flight(rate: float) -> int:
    """Workers that fill ``rate`` req/s at a 1.5 s median latency with a p99 tail to spare."""
    return max(2, min(MAX_WORKERS, math.ceil(rate * DESIGN_LATENCY_S)))


class InflightPool:
    """``workers`` threads fetching the most overdue pair whenever one is free."""

    def __init__(
        self, collector: Collector, *, workers: int, stop: StopToken, clock: Clock
    ) -> None:
        if workers < 1:
            raise ValueError(f"in-flight requests must be >= 1, got {workers}")
        self.collector = collector
        self.queue = DueQueue()
        self.workers = workers
        self._stop = stop
        self._clock = clock
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._mode: str | None = None  # None: paused; "refresh": before the open; "all"
        self._plan: Plan | None = None
        self._refreshing: set[str] = set()
        self._threads: list[threading.Thread] = []
        self.freshness = Freshness()
        self.rate_meter = RateMeter()

    # --- control (collection thread) -----------------------------------------------------------
    def resume(self, *, chains: bool = True) -> None:
        """Run: chains and refreshes, or (``chains=False``, before the open) refreshes only."""
        with self._lock:
            session_starts = chains and self._mode != "all"
            self._mode = "all" if chains else "refresh"
        if session_starts:
            self.freshness.restart(self._clock.now().timestamp())
        if not self._threads:
            for n in range(self.workers):
                t = threading.Thread(target=self._run, name=f"nsechain-fetch-{n}", daemon=True)
                t.start()
                self._threads.append(t)

    def pause(self) -> None:
        """No new fetch starts; those in flight finish (``drain`` waits for them)."""
        with self._lock:
            self._mode = None

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` wall seconds for the fetches in flight; True if none is left."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def report(self) -> dict[str, Any]:
        """The pool's part of the status: requests in flight now, workers, pairs scheduled,
        and under ``schedule`` the achieved rate against the budget and the achieved freshness
        per tier against the plan's promise (``collector/freshness.py``)."""
        client = self.collector.client
        rate = self.rate_meter.report(
            time.monotonic(),
            client.limiter.granted,
            self.collector.settings.rate,
            client.effective_rate,
        )
        tiers = self.freshness.report(self._clock.now().timestamp())
        return {
            "requests_in_flight": self._in_flight,
            "workers": self.workers,
            "scheduled_pairs": len(self.queue),
            "schedule": {**rate, "tiers": tiers},
        }

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def mode(self) -> str | None:
        return self._mode

    # --- workers -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._step():
                    self._stop.wait(IDLE_POLL_S)
        except Interrupted:
            return
        except Exception:  # a worker must not die silently: log, and let the others go on
            log.exception("fetch worker crashed name=%s", threading.current_thread().name)

    def _step(self) -> bool:
        """One unit of work; False when there was nothing to do (the caller idles).

        The token comes first, the choice second: whichever worker gets the next token sends
        the most overdue request at that moment, not one it chose while waiting in line.
        """
        if self._mode is None or self._paused():
            return False
        bucket = self.collector.client.limiter
        bucket.prepay()
        try:
            return self._choose_and_send()
        finally:
            bucket.refund()  # unused when nothing was due or nothing was sent

    def _choose_and_send(self) -> bool:
        mode = self._mode
        if mode is None or self._paused():
            return False
        now = self._clock.now()
        at = now.timestamp()
        if mode == "all":
            self._follow_plan(now)
            if self.queue.overdue(at) and self._fetch(at):
                return True
        if self._refresh(now):
            return True
        return mode == "all" and self._fetch(at)

    def _paused(self) -> bool:
        until = self.collector.client.paused_until
        return until is not None and until > time.monotonic()

    def _follow_plan(self, now: datetime) -> None:
        plan = self.collector.current_plan(now)
        at = now.timestamp()
        if plan is not self._plan:
            with self._lock:
                if plan is not self._plan:
                    interval_s = self.collector.settings.interval_s
                    self.queue.sync(plan, interval_s, at)
                    self.freshness.follow(
                        {p: (t.name, t.cadence * interval_s) for t in plan.tiers for p in t.pairs},
                        at,
                    )
                    self._plan = plan

    def _fetch(self, at: float) -> bool:
        slot = self.queue.take(at)
        if slot is None:
            return False
        if not self._begin(chains=True):
            self.queue.put_back(slot)  # paused meanwhile: the pair keeps its place
            return False
        try:
            outcome = self.collector.fetch_pair(slot.pair.symbol, slot.pair.expiry)
        except (ClientPaused, Deferred):
            # A block cooling off, or NSE asked the whole host to wait: the client is paused,
            # every worker idles until it ends, and this pair keeps its place.
            self.queue.put_back(slot)
            return False
        except BaseException:
            self.queue.put_back(slot)
            raise
        finally:
            self._end()
        self._done(slot, at, outcome)
        return True

    def _done(self, slot: Slot, started: float, outcome: str) -> None:
        took_s = None
        if outcome in ("ok", "stale"):  # NSE was looked at: a snapshot, changed or not
            answered = self._clock.now().timestamp()
            self.freshness.snapshot(slot.pair, answered)
            took_s = answered - started
        not_before = None
        if outcome == "deferred":  # NSE asked this pair to wait: it is due when that ends
            left = self.collector.client.deferred_left(slot.pair.symbol, slot.pair.expiry)
            not_before = None if left is None else started + left
        self.queue.done(slot, started, not_before=not_before, took_s=took_s)

    def _refresh(self, now: datetime) -> bool:
        what = self._claim_refresh(now)
        if what is None:
            return False
        if not self._begin(chains=False):
            with self._lock:
                self._refreshing.discard(what)
            return False
        try:
            self.collector.refresh_one(None if what == _UNIVERSE else what, now)
        except (ClientPaused, Deferred):
            return False
        finally:
            self._end()
            with self._lock:
                self._refreshing.discard(what)
        if not self._refreshing:
            self.collector.save_cache()
        return True

    def _claim_refresh(self, now: datetime) -> str | None:
        universe, symbols = self.collector.refreshes_due(now)
        candidates = ([_UNIVERSE] if universe else []) + symbols
        with self._lock:
            for what in candidates:
                if what not in self._refreshing:
                    self._refreshing.add(what)
                    return what
        return None

    def _begin(self, *, chains: bool) -> bool:
        # Checked under the lock ``pause`` takes: once ``pause`` returns, nothing new starts,
        # so ``drain`` waits for every fetch that did.
        with self._lock:
            if self._mode is None or (chains and self._mode != "all"):
                return False
            self._in_flight += 1
            return True

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()
