"""``CollectionLoop``: the collection thread — sessions, the pool's mode, a file every interval.

Where it sits: ``OptionsThreadedManager`` (``collector/manager.py``) runs ``run`` on its
supervised *collection* thread. During market hours the fetch workers of
``collector/inflight.py`` keep requests in flight; at every aligned interval this loop writes
what completed (``Collector.flush`` → Parquet). Outside the session it pauses the pool, or,
in the 15 minutes before the open, lets it refresh the universe and expiry lists only. At the
close it writes the last interval and takes one after-close look. At the start, the workers
do not wait for the calendar's request to NSE when the holiday list on hand says open.

It lives on the collector's ``clock`` (``collector/clock.py``); NSE's pauses (403 blocks,
Retry-After) stay on wall time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nsechain.collector.clock import Clock, next_instant
from nsechain.collector.inflight import InflightPool
from nsechain.collector.session import MarketClock
from nsechain.collector.tick import Collector, TickResult
from nsechain.collector.workers import StopToken
from nsechain.config import Settings
from nsechain.errors import Interrupted, NsechainError
from nsechain.logs import flush_repeats
from nsechain.market.calendar import PRE_OPEN  # refreshes run in it: 09:00-09:15

__all__ = ["STOP_GRACE_S", "CollectionLoop"]

log = logging.getLogger(__name__)

#: On a stop, wall seconds to let the fetches in flight finish before the last file is written.
STOP_GRACE_S = 5.0


class CollectionLoop:
    """The collection thread's loop, and what it last did (for the status)."""

    def __init__(
        self,
        settings: Settings,
        collector: Collector,
        pool: InflightPool,
        market: MarketClock,
        *,
        clock: Clock,
        stop: StopToken,
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.collector = collector
        self.pool = pool
        self.market = market
        self.clock = clock
        self._stop = stop
        self._status = status  # the manager's whole status: the interval line shows its verdict
        self.state = "starting"
        #: What the loop last saw (None: not asked yet); the batch thread sorts closed days
        #: only while it is False (the manager's ``_closed_day``).
        self.market_open: bool | None = None
        self.last_tick: TickResult | None = None
        self.next_tick_at: datetime | None = None

    def run(self) -> None:
        early = self._start_early()  # when the workers started on the list on hand, or None
        was_open = early is not None
        try:
            while not self._stop.is_set():
                now = self.clock.now()
                # Ask even when ignoring hours: it keeps the calendar (and the status) current.
                market_open = self.market.is_open(now)
                self.market_open = market_open
                if not self.settings.ignore_market_hours and not market_open:
                    if was_open:
                        # Closed since the early start (the close came first: at a fast
                        # clock, or a start at 15:29), or closed all along by NSE's list.
                        wrong = early is not None and not self.market.is_open(early)
                        self._end_session(now, look_after=not wrong)
                    was_open, early = False, None
                    self._wait_for_open(now)
                    continue
                was_open, early = True, None
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

    def _start_early(self) -> datetime | None:
        """Start the fetch workers before the calendar asks NSE for its holiday list, when the
        list on hand (cached, else bundled) says the market is open, or hours are ignored.

        Serial, the calendar's request (a latency, more in NSE's tail) kept every worker idle
        at the start. The session's cookies come first, so the workers and the calendar share
        one bootstrap instead of queueing behind it. If NSE's list then says closed (a closure
        announced at short notice), the session ends at once: what was fetched is written,
        without the after-close look. The time of the start when the workers were started.
        """
        now = self.clock.now()
        if not self.settings.ignore_market_hours:
            on_hand = getattr(self.market, "provisional_open", None)  # a MarketClock may have none
            if on_hand is None or not on_hand(now):
                return None
        try:
            self.collector.client.ensure_session()
        except Interrupted:
            raise
        except NsechainError as exc:  # logged by the client; the usual start takes over
            log.info("early start skipped: no session yet error=%r", str(exc))
            return None
        self.pool.resume()
        return now

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
        verdict = self._status()["verdict"]
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

    def _end_session(self, now: datetime, *, look_after: bool = True) -> None:
        """The close: stop fetching, write the last interval, then one after-close look."""
        if not look_after:
            log.warning(
                "market closed by NSE's holiday list, open by the list on hand; stopping the "
                "early start now=%s",
                now.isoformat(timespec="seconds"),
            )
        self.pool.pause()
        self._drain(self.settings.timeout_s)
        self._flush(now)
        if look_after and self.settings.after_close_snapshot:
            # NSE keeps revising OI for a while after 15:30: one more look.
            log.info("after-close snapshot at=%s", now.isoformat(timespec="seconds"))
            self.tick(now)

    def tick(self, at: datetime) -> TickResult:
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
