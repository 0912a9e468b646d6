"""Fetch → parse → one atomic Parquet file per interval.

Where it sits: under the collection thread (``collector/collection.py``). In a session the
continuous scheduler's workers (``collector/inflight.py``) call ``Collector.fetch_pair`` for
one (symbol, expiry) at a time, several at once; at every aligned interval the collection
thread calls ``Collector.flush``, which writes whatever completed as one file. ``run_tick``
(one serial pass over a plan tick) stays for ``collect --once`` and the after-close snapshot.
The tick asks ``Targets`` what to fetch, fetches each (symbol, expiry) through the shared
``NseClient``, parses the bodies into Arrow, drops snapshots whose NSE timestamp has not moved
(``stale``), and writes the quotes plus the tick's fetch log as ONE Parquet file under
``data/options_parquet/YYYYMMDD/``. Undecodable bodies go to
quarantine. Nothing here raises for bad data: every failure becomes a ``fetch_log`` row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from nsechain.collector.backlog import Backlog
from nsechain.collector.clock import Clock, clock_of
from nsechain.collector.fetchlog import FetchLog
from nsechain.collector.health import HealthCounters
from nsechain.collector.targets import Targets
from nsechain.config import Settings
from nsechain.contract import FAILED_OUTCOMES, QUOTES_SCHEMA
from nsechain.errors import (
    ClientPaused,
    Deferred,
    EmptyChain,
    FetchError,
    Interrupted,
    NsechainError,
    PayloadError,
    StorageError,
)
from nsechain.market.plan import Plan
from nsechain.nse.client import Exchange
from nsechain.nse.parse import ParsedChain, parse_chain, parse_expiries, parse_universe
from nsechain.nse.routes import make_client
from nsechain.store.files import quarantine_body
from nsechain.store.rawcapture import RawCapture
from nsechain.timeutil import iso

__all__ = ["Collector", "TickResult"]

log = logging.getLogger(__name__)


class _HostDeferred(Exception):
    def __init__(self, error: Deferred) -> None:
        self.error = error


def _raise_if_host_wide(exc: Exception) -> None:
    if isinstance(exc, Deferred) and exc.scope == "host":
        raise _HostDeferred(exc) from exc


@dataclass
class TickResult:
    """What one tick did, for status and logs."""

    tick_at: datetime
    planned: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    quote_rows: int = 0
    path: Path | None = None
    interrupted: bool = False
    error: str | None = None


@dataclass
class SymbolFreshness:
    last_ok_at: datetime | None = None  # when we last received a new snapshot
    exchange_ts: datetime | None = None  # NSE's timestamp of that snapshot
    last_outcome: str | None = None

    def report(self) -> dict[str, str | None]:
        return {
            "last_ok_at": iso(self.last_ok_at),
            "exchange_ts": iso(self.exchange_ts),
            "last_outcome": self.last_outcome,
        }


def _expiries_decoder(symbol: str) -> Callable[[bytes, Exchange], list[date]]:
    return lambda body, _ex: parse_expiries(body, symbol=symbol)


class Collector:
    """Owns the NSE client, the stale-detection memory and the unwritten-tick backlog."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock if clock is not None else clock_of(self.settings)
        self._log = FetchLog()
        # One NseClient per route (nse/routes.py); several routes share the plan's budget.
        self.client = make_client(
            settings,
            transport=transport,
            on_exchange=self._on_exchange,
            sleep=sleep if sleep is not None else time.sleep,
            now=self.clock.now,  # fetched_at in market time; the budget stays wall time
        )
        budget = settings.model_copy(update={"rate": self.client.effective_rate})
        self.targets = Targets(budget, speed=self.clock.speed)
        #: Live health from every request's outcome (``collector/health.py``).
        self.health = HealthCounters(self.clock.now, speed=self.clock.speed)
        self._last_ts: dict[tuple[str, date], datetime] = {}
        #: Intervals the disk refused: held, spilled to ``spill_dir``, or dropped (logged).
        self.backlog = Backlog(settings.pending_dir, settings.spill_dir)
        self.freshness: dict[str, SymbolFreshness] = {}
        self.totals: Counter[str] = Counter()  # outcome -> count, plus rows_written, ticks
        self.progress: tuple[int, int] | None = None  # (fetched, planned) of the tick in flight
        #: Keeps every chain body as received (``raw_capture``); flushed once per tick.
        self.raw = RawCapture(settings.raw_dir) if settings.raw_capture else None
        # Worker threads fetch at once: one lock guards the fetch log, the completed tables
        # and the stale memory, so a chain and its fetch_log row always land in one file.
        self._buf_lock = threading.RLock()
        self._done: list[pa.Table] = []
        self._done_outcomes: Counter[str] = Counter()
        self._done_error: str | None = None
        self._write_lock = threading.Lock()

    # --- the tick ---------------------------------------------------------------------------
    def run_tick(self, tick_at: datetime, stop: threading.Event | None = None) -> TickResult:
        """Fetch the planned pairs and write one file. A stop ends fetching; what came is kept."""
        result = TickResult(tick_at=tick_at)
        tables: list[pa.Table] = []
        try:
            self._refresh_targets(tick_at, result)
            pairs = self.targets.plan(tick_at)
            result.planned = len(pairs)
            for done, (symbol, expiry) in enumerate(pairs):
                if stop is not None and stop.is_set():
                    result.interrupted = True
                    break
                self.progress = (done, len(pairs))
                self._fetch_one(symbol, expiry, result, tables)
        except Interrupted:
            result.interrupted = True
        except ClientPaused as exc:
            result.outcomes["blocked"] += 1
            result.error = str(exc)
            log.warning("tick paused reason=%r", str(exc))
        except _HostDeferred as host:
            # NSE asked every request to wait (a long Retry-After on a 503): the client is
            # paused until then; unlike a block, the budget is not lowered.
            result.outcomes["deferred"] += 1
            result.error = str(host.error)
            log.warning("tick deferred reason=%r", str(host.error))
        self.progress = None
        self._adapt_rate(result)
        # Anything workers completed meanwhile goes in too, with its log rows.
        self._write_done(result, tables)
        return result

    def _adapt_rate(self, result: TickResult) -> None:
        """AIMD: a 403 block halves the budget; a clean tick wins a little of it back."""
        if result.outcomes["blocked"]:
            rate = self.targets.on_block()
        elif not result.interrupted and result.outcomes["ok"]:
            rate = self.targets.on_clean_tick()
        else:
            return
        if rate != self.client.limiter.rate:
            self.client.limiter.set_rate(rate)

    # --- the continuous path (several workers) --------------------------------------------------
    def fetch_pair(self, symbol: str, expiry: date) -> str:
        """Fetch one pair from a worker thread; its result waits for the next ``flush``.

        Returns the outcome. Raises ``ClientPaused`` (nothing sent: a 403 block is cooling off),
        ``Deferred`` (NSE asked the whole host to wait) and ``Interrupted`` (stopping) for the
        worker to handle.
        """
        local = TickResult(tick_at=self.clock.now())
        try:
            self._fetch_one(symbol, expiry, local, None)
        except _HostDeferred as host:
            # NSE asked every request to wait: the client is paused until then, every worker
            # stops like after a block (the budget is not lowered); this pair goes back.
            local.outcomes["deferred"] += 1
            local.error = str(host.error)
            self._merge_outcomes(local)
            raise host.error from None
        self._merge_outcomes(local)
        return next(iter(local.outcomes), "ok")

    def _merge_outcomes(self, local: TickResult) -> None:
        with self._buf_lock:
            self._done_outcomes.update(local.outcomes)
            if local.error is not None:
                self._done_error = local.error

    def flush(self, at: datetime) -> TickResult:
        """Write whatever completed since the last flush as one file (an empty one if nothing)."""
        result = TickResult(tick_at=at)
        result.planned = self._write_done(result)
        return result

    def _write_done(self, result: TickResult, tables: list[pa.Table] | None = None) -> int:
        """Write what workers completed since the last write, plus ``tables``, as the file of
        ``result.tick_at``, with its fetch_log rows and raw captures; returns the chains
        written."""
        at = result.tick_at
        with self._buf_lock:  # one swap: a chain and its fetch_log row land in the same file
            done, self._done = [*self._done, *(tables or [])], []
            result.outcomes.update(self._done_outcomes)
            result.error = result.error or self._done_error
            self._done_outcomes, self._done_error = Counter(), None
            flog = self._drain_log()
        quotes = pa.concat_tables(done) if done else QUOTES_SCHEMA.empty_table()
        result.quote_rows = quotes.num_rows
        with self._write_lock:  # the backlog has one writer at a time
            self._write(at, quotes, result, flog)
            if self.raw is not None:
                self.raw.flush(at)
        self.totals.update(result.outcomes)
        self.totals["ticks"] += 1
        return len(done)

    def adapt_rate(self, result: TickResult) -> None:
        """AIMD after an interval of the continuous scheduler (see ``_adapt_rate``)."""
        self._adapt_rate(result)

    def _fetch_one(
        self, symbol: str, expiry: date, result: TickResult, sink: list[pa.Table] | None
    ) -> None:
        """Fetch and keep one pair's chain in ``sink`` (None: the buffer the next flush writes)."""

        def decode(body: bytes, ex: Exchange) -> ParsedChain:
            if self.raw is not None:  # before parsing: a body the parser refuses is kept too
                self.raw.add(
                    body,
                    symbol=symbol,
                    expiry=expiry,
                    endpoint=ex.endpoint,
                    fetched_at=ex.fetched_at,
                    http_status=ex.http_status,
                )
            # fetched_at comes from the collector's clock: the timestamp rule's "now".
            at = ex.fetched_at
            now = at if self.settings.check_exchange_ts else None
            return parse_chain(body, symbol=symbol, expiry=expiry, fetched_at=at, now=now)

        fresh = self.freshness.setdefault(symbol, SymbolFreshness())
        try:
            parsed, ex = self.client.fetch_chain(symbol, expiry, decode)
        except ClientPaused:
            raise
        except Deferred as exc:
            # A pair NSE asked to wait for (a long Retry-After): the client refuses to send it
            # until then, so this pair is skipped, not retried; a host-wide wait ends the tick.
            _raise_if_host_wide(exc)
            return self._failed(fresh, result, exc)
        except EmptyChain as exc:
            # A wrong expiry: NSE's 200-with-no-rows. Refresh this symbol's expiries soon.
            with self._buf_lock:
                self.targets.mark_stale_expiries(symbol)
            return self._failed(fresh, result, exc)
        except (FetchError, PayloadError) as exc:
            return self._failed(fresh, result, exc)
        key = (symbol, expiry)
        with self._buf_lock:
            if self._last_ts.get(key) == parsed.exchange_ts:
                self._log.add_exchange(ex, outcome="stale", rows=0, exchange_ts=parsed.exchange_ts)
                result.outcomes["stale"] += 1
                fresh.last_outcome = "stale"
                self.health.record("stale")
                return None
            self._last_ts[key] = parsed.exchange_ts
            rows = parsed.table.num_rows
            self._log.add_exchange(ex, outcome="ok", rows=rows, exchange_ts=parsed.exchange_ts)
            (self._done if sink is None else sink).append(parsed.table)
            result.outcomes["ok"] += 1
            self.health.record("ok")
            fresh.last_ok_at, fresh.exchange_ts, fresh.last_outcome = (
                ex.fetched_at,
                parsed.exchange_ts,
                "ok",
            )
        return None

    def _failed(self, fresh: SymbolFreshness, result: TickResult, exc: NsechainError) -> None:
        # The client already logged a fetch_log row for every failed attempt.
        result.outcomes[exc.outcome] += 1
        fresh.last_outcome = exc.outcome
        result.error = str(exc)

    # --- expiries and universe --------------------------------------------------------------
    def _refresh_targets(self, now: datetime, result: TickResult) -> None:
        if self.targets.universe_due(now):
            self._refresh_universe(now, result)
        with self._buf_lock:
            due = self.targets.expiries_due(now)
        for symbol in due:
            self._refresh_expiries(symbol, now, result)
        self.save_cache()

    def _refresh_universe(self, now: datetime, result: TickResult) -> None:
        try:
            universe, ex = self.client.fetch_universe(lambda b, _ex: parse_universe(b))
        except ClientPaused:
            raise  # cooling off a block: no request was sent, nothing failed
        except (FetchError, PayloadError) as exc:
            _raise_if_host_wide(exc)
            log.warning("universe refresh failed error=%r; keeping the previous list", str(exc))
            with self._buf_lock:
                self.targets.universe_failed(now)
            self._note_failure(result, exc, "universe refresh")
        else:
            with self._buf_lock:
                self._log.add_exchange(ex)
                self.targets.set_universe(universe, now)
            self.health.record("ok", chain=False)

    def _refresh_expiries(self, symbol: str, now: datetime, result: TickResult) -> None:
        try:
            dates, ex = self.client.fetch_contract_info(symbol, _expiries_decoder(symbol))
        except ClientPaused:
            raise
        except (FetchError, PayloadError) as exc:
            _raise_if_host_wide(exc)
            log.warning("expiries refresh failed symbol=%s error=%r", symbol, str(exc))
            with self._buf_lock:
                self.targets.expiries_failed(symbol, now)
            self._note_failure(result, exc, f"expiries of {symbol}")
        else:
            with self._buf_lock:
                self._log.add_exchange(ex)
                self.targets.set_expiries(symbol, dates, now)
            self.health.record("ok", chain=False)

    def refresh_one(self, what: str | None, now: datetime) -> None:
        """One low-priority refresh from a worker: the universe (None) or one symbol's expiries."""
        local = TickResult(tick_at=now)
        try:
            if what is None:
                self._refresh_universe(now, local)
            else:
                self._refresh_expiries(what, now, local)
        except _HostDeferred as host:  # every request waits: see fetch_pair
            self._merge_outcomes(local)
            raise host.error from None
        self._merge_outcomes(local)

    def refreshes_due(self, now: datetime) -> tuple[bool, list[str]]:
        """(universe due, symbols whose expiries are due), for the scheduler."""
        with self._buf_lock:
            return self.targets.universe_due(now), self.targets.expiries_due(now)

    def current_plan(self, now: datetime) -> Plan:
        """The plan the scheduler follows; symbols without expiries get predicted ones."""
        with self._buf_lock:
            self.targets.predict_missing(now)
            return self.targets.plan_now

    def save_cache(self) -> None:
        with self._buf_lock:
            self.targets.save_cache()

    def _note_failure(self, result: TickResult, exc: NsechainError, what: str) -> None:
        result.outcomes[exc.outcome] += 1
        result.error = (
            f"{what} failed: {exc} (NSE at {self.settings.base_url}; retrying automatically)"
        )

    def holidays_body(self) -> bytes:
        """NSE's holiday master, for the calendar; the request goes into the fetch log."""
        body, ex = self.client.fetch_holidays(lambda b, _ex: b)
        with self._buf_lock:
            self._log.add_exchange(ex)
        return body

    # --- output -----------------------------------------------------------------------------
    def _on_exchange(self, ex: Exchange) -> None:
        """Every HTTP exchange the client reports (all but a request's final success)."""
        with self._buf_lock:
            self._log.add_exchange(ex)
        # Every failed attempt counts (a retried one too): the health is per request sent.
        self.health.record(ex.outcome, ex.error, chain=False)
        if ex.outcome == "bad_payload" and ex.body is not None:
            try:
                quarantine_body(
                    self.settings.quarantine_dir,
                    body=ex.body,
                    reason=ex.error or "bad payload",
                    symbol=ex.symbol,
                    expiry=ex.expiry,
                    fetched_at=ex.fetched_at,
                )
            except StorageError as exc:
                log.error("quarantine failed symbol=%s error=%r", ex.symbol, str(exc))

    def _drain_log(self) -> pa.Table:
        with self._buf_lock:
            table = self._log.table()
            self._log.clear()
            return table

    def _write(
        self, tick_at: datetime, quotes: pa.Table, result: TickResult, flog: pa.Table | None = None
    ) -> None:
        """Write (or hold, spill, drop: see ``Backlog``) one file; ``flog`` None: drain now."""
        path, error = self.backlog.write(
            tick_at, quotes, self._drain_log() if flog is None else flog
        )
        result.path = path
        self.totals["rows_written"] = self.backlog.rows_written
        if error is not None:
            result.error = error

    def report(self) -> dict[str, Any]:
        """The collection counters for the status: fetches by outcome, rows, the budget used."""
        totals = self.totals
        return {
            "ticks": totals["ticks"],
            "fetches": {k: v for k, v in totals.items() if k not in ("ticks", "rows_written")},
            "fetches_ok": totals["ok"] + totals["stale"],
            "fetches_failed": sum(totals[k] for k in FAILED_OUTCOMES),
            "rows_written": totals["rows_written"],
            "tick_in_flight": list(self.progress) if self.progress else None,
            "effective_rate": self.client.effective_rate,
            **self.backlog.report(),
        }

    def symbols_report(self) -> dict[str, dict[str, str | None]]:
        """Per symbol: when it last brought a new snapshot, and how its last fetch ended."""
        return {sym: f.report() for sym, f in sorted(self.freshness.items())}

    def close(self) -> None:
        self.client.close()
