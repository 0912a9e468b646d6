"""Live health: the collector's own counters, and the ONE verdict every reader shows.

Where it sits: collector/, beside the status file. ``HealthCounters`` is fed by the
``Collector`` on every request outcome (worker threads), so it is current to the second, not to
the last DuckDB load. The manager puts its report in ``status.json`` under ``health`` together
with the verdict ``judge()`` gives and since when (``VerdictTracker``). Readers in other
processes (``nsechain status``, the dashboard) call ``current_verdict()``: the verdict the
collector wrote, unless its status file has gone quiet (then: not recording).

The verdict is one of ``recording`` (exit 0), ``degraded`` (exit 1), ``not recording`` (exit 2),
always with a one-line reason. A healthy collector waiting for the market to open says
``recording`` (it is doing its job; the reason says it waits): a monitoring check run at night
must not alarm, and a stopped or silent collector is ``not recording`` at any hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from nsechain.collector.lakethread import lake_problem
from nsechain.config import Settings
from nsechain.contract import FAILED_OUTCOMES
from nsechain.timeutil import now_ist

__all__ = [
    "EXIT_CODES",
    "HealthCounters",
    "Judged",
    "VerdictTracker",
    "current_verdict",
    "judge",
    "reader_verdict",
    "stale_after_s",
]

log = logging.getLogger(__name__)

RECORDING, DEGRADED, NOT_RECORDING = "recording", "degraded", "not recording"
#: ``nsechain status`` exits with these, like ``systemctl is-active``.
EXIT_CODES = {RECORDING: 0, DEGRADED: 1, NOT_RECORDING: 2}
#: Outcomes over this many seconds (of the collector's clock) make the recent picture.
WINDOW_S = 300.0
#: No success for this many intervals in a session: not recording.
SILENT_INTERVALS = 2.0
#: Only stale answers (NSE's time does not move) for this many intervals: degraded.
FROZEN_INTERVALS = 5.0
#: A share of failed requests in the window at or above this: degraded.
FAILED_SHARE = 0.10
#: Failures in a row (after a success) that make a collector degraded at once.
FAILURE_STREAK = 5
#: A status.json older than this many status intervals (and 30 s) has no live writer.
STALE_STATUS_INTERVALS = 10
_MAX_EVENTS = 100_000  # a bound on memory, far above any budget's five minutes
_SUCCESS = ("ok", "stale")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


class HealthCounters:
    """Outcomes per class over the last minutes, the failure streak, the last success.

    Moments shown (``last_success_at``, …) come from ``now``, the collector's clock (market
    time, like every other time in the status). Ages and the window are measured on the wall
    (``monotonic``) and scaled by the clock's ``speed``, so they are in the same seconds as
    ``interval_s`` whatever clock runs. Thread-safe: every fetch worker reports here.
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self._speed = speed
        self._mono = monotonic
        self._lock = threading.Lock()
        self._events: deque[tuple[float, str]] = deque(maxlen=_MAX_EVENTS)
        self._interval: Counter[str] = Counter()  # since the last ``take_interval``
        self._started = monotonic()
        self._success_t: float | None = None
        self._snapshot_t: float | None = None
        self.consecutive_failures = 0
        self.failing_since: datetime | None = None
        self.last_success_at: datetime | None = None  # ok or stale: NSE answered a chain
        self.last_snapshot_at: datetime | None = None  # ok: a new snapshot was kept
        self.last_failure_at: datetime | None = None
        self.last_error: str | None = None

    def record(self, outcome: str, error: str | None = None, *, chain: bool = True) -> None:
        """One request's outcome; ``chain`` False for a universe or expiry refresh."""
        at, t = self._now(), self._mono()
        with self._lock:
            self._events.append((t, outcome))
            self._interval[outcome] += 1
            if outcome in _SUCCESS:
                self.consecutive_failures, self.failing_since = 0, None
                if chain:
                    self.last_success_at, self._success_t = at, t
                    if outcome == "ok":
                        self.last_snapshot_at, self._snapshot_t = at, t
            elif outcome in FAILED_OUTCOMES or outcome == "deferred":
                self.consecutive_failures += 1
                self.failing_since = self.failing_since or at
                self.last_failure_at = at
                self.last_error = error or outcome

    def take_interval(self) -> Counter[str]:
        """Request outcomes since the last call (the interval's summary line), then reset."""
        with self._lock:
            taken, self._interval = self._interval, Counter()
        return taken

    def report(self) -> dict[str, Any]:
        """The ``health`` part of the status: counts in the window, ages in clock seconds."""
        t = self._mono()
        with self._lock:
            cut = t - WINDOW_S / self._speed
            while self._events and self._events[0][0] < cut:
                self._events.popleft()
            counts = Counter(outcome for _, outcome in self._events)

            def age(since: float | None) -> float | None:
                return None if since is None else round((t - since) * self._speed, 1)

            return {
                "window_s": WINDOW_S,
                "outcomes": dict(sorted(counts.items())),
                "requests": sum(counts.values()),
                "failed": sum(n for k, n in counts.items() if k not in _SUCCESS),
                "consecutive_failures": self.consecutive_failures,
                "failing_since": _iso(self.failing_since),
                "last_success_at": _iso(self.last_success_at),
                "last_snapshot_at": _iso(self.last_snapshot_at),
                "last_failure_at": _iso(self.last_failure_at),
                "last_error": self.last_error,
                "success_age_s": age(self._success_t),
                "snapshot_age_s": age(self._snapshot_t),
                "running_s": age(self._started),
            }


# --- the verdict (pure: a status dict in, a verdict out) ---------------------------------------
def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Judged(NamedTuple):
    verdict: str
    kind: str  # a stable word for the reason ("nse_failing", "waiting", …): what the log keys on
    reason: str


def judge(status: dict[str, Any]) -> Judged:
    """The verdict of a status dict as ``get_thread_status()`` builds it, with its reason."""
    state = str(status.get("state") or "?")
    col = _d(status.get("collection_thread"))
    if state == "stopped":
        why = status.get("stop_reason") or "the collector has stopped"
        return Judged(NOT_RECORDING, "stopped", f"stopped: {why}")
    if state == "starting":
        return Judged(NOT_RECORDING, "starting", "starting: nothing recorded yet")
    if col and col.get("alive") is False:
        crash = col.get("last_error") or "no error recorded"
        return Judged(
            NOT_RECORDING, "thread_down", f"the collection thread is down ({crash}); restarting it"
        )
    if state.startswith("paused"):
        return Judged(NOT_RECORDING, "paused", f"{state}; no request is sent until then")
    if state.startswith("market closed"):
        return _waiting(state, status)
    silent = _in_session(status)
    if silent is not None:
        return silent
    problems = _problems(status)
    if problems:
        return Judged(DEGRADED, "problems", "; ".join(problems))
    return Judged(RECORDING, "recording", _recording_reason(status))


def _interval(status: dict[str, Any]) -> float:
    value = _d(status.get("settings")).get("interval_s")
    return float(value) if isinstance(value, int | float) and value > 0 else 60.0


def _waiting(state: str, status: dict[str, Any]) -> Judged:
    h = _d(status.get("health"))
    streak = int(h.get("consecutive_failures") or 0)
    if streak >= FAILURE_STREAK:  # the pre-open refreshes cannot reach NSE
        return Judged(
            DEGRADED,
            "waiting_failing",
            f"{state}; NSE did not answer {streak} requests in a row: {h.get('last_error')}",
        )
    return Judged(RECORDING, "waiting", f"{state} (nothing to record until then)")


def _in_session(status: dict[str, Any]) -> Judged | None:
    """Not recording in a session: nothing came back for two intervals (or ever, yet)."""
    h = _d(status.get("health"))
    silent_after = SILENT_INTERVALS * _interval(status)
    success_age = h.get("success_age_s")
    if success_age is not None and success_age <= silent_after:
        return None
    streak = int(h.get("consecutive_failures") or 0)
    since = h.get("last_snapshot_at")
    nothing = f"nothing recorded since {since}" if since else "nothing recorded yet"
    if streak:
        return Judged(
            NOT_RECORDING,
            "nse_failing",
            f"NSE is not answering: {h.get('last_error')} ({_times(streak)} in a row, "
            f"{nothing}; `make demo` shows a working run against the simulator)",
        )
    running = h.get("running_s")
    if success_age is None and (running is None or running <= silent_after):
        return Judged(NOT_RECORDING, "starting", "starting: no snapshot yet")
    quiet = success_age if success_age is not None else running or 0.0
    return Judged(
        NOT_RECORDING, "silent", f"no request has completed for {quiet:.0f} s ({nothing})"
    )


def _times(n: int) -> str:
    return f"{n} failure{'s' if n != 1 else ''}"


def _problems(status: dict[str, Any]) -> list[str]:
    """What makes a recording collector degraded, worst first."""
    h, col = _d(status.get("health")), _d(status.get("collection_thread"))
    bat, settings = _d(status.get("batch_thread")), _d(status.get("settings"))
    out: list[str] = []
    requests, failed = int(h.get("requests") or 0), int(h.get("failed") or 0)
    if requests and failed / requests >= FAILED_SHARE:
        kinds = ", ".join(f"{k} {n}" for k, n in _d(h.get("outcomes")).items() if k not in _SUCCESS)
        out.append(
            f"{failed} of {requests} requests failed in the last "
            f"{h.get('window_s', WINDOW_S):.0f} s ({kinds}); last error: {h.get('last_error')}"
        )
    elif int(h.get("consecutive_failures") or 0) >= FAILURE_STREAK:
        out.append(f"{_times(h['consecutive_failures'])} in a row: {h.get('last_error')}")
    snapshot_age = h.get("snapshot_age_s")
    if snapshot_age is None or snapshot_age > FROZEN_INTERVALS * _interval(status):
        out.append("NSE answers, but its timestamps have not moved (every fetch stale)")
    if col.get("backlog_ticks"):
        out.append(f"the disk refuses writes: {col['backlog_ticks']} interval(s) held in memory")
    out += _issue14_problems(status, col)
    if bat and bat.get("alive") is False:
        out.append("the batch thread is down (loads into DuckDB stopped); it is restarted")
    elif bat.get("last_error"):
        out.append(f"loading into DuckDB fails: {bat['last_error']}")
    lake = lake_problem(_d(status.get("lake_thread")), settings.get("batch_interval_s"))
    out += [lake] if lake else []
    rate, effective = settings.get("rate"), col.get("effective_rate")
    if isinstance(rate, int | float) and isinstance(effective, int | float) and effective < rate:
        out.append(f"request rate cut to {effective:.2f} of {rate:g} req/s after a block")
    return out


def _issue14_problems(status: dict[str, Any], col: dict[str, Any]) -> list[str]:
    """The damaged-database and dropped-tick conditions, read defensively: optional fields."""
    out: list[str] = []
    db = _d(status.get("database")) or _d(_d(status.get("batch_thread")).get("database"))
    if db.get("healthy") is False or db.get("damaged") or db.get("unhealthy_since"):
        since = db.get("unhealthy_since")
        what = db.get("error") or db.get("reason") or "cannot be opened"
        out.append(f"database unhealthy{f' since {since}' if since else ''}: {what}")
    dropped = next(
        (col[k] for k in ("ticks_dropped", "dropped_ticks", "dropped_intervals") if col.get(k)),
        None,
    )
    if dropped:
        count = len(dropped) if isinstance(dropped, list) else dropped
        out.append(f"{count} interval(s) dropped (not written): see the log")
    return out


def _recording_reason(status: dict[str, Any]) -> str:
    h = _d(status.get("health"))
    symbols = _d(status.get("symbols"))
    fresh = sum(1 for s in symbols.values() if _d(s).get("last_outcome") in _SUCCESS)
    return (
        f"{h.get('requests', 0)} requests in the last {h.get('window_s', WINDOW_S):.0f} s, "
        f"{h.get('failed', 0)} failed; last new snapshot {h.get('snapshot_age_s', 0):.0f} s ago; "
        f"{fresh} of {len(symbols)} symbols answering"
    )


def say_verdict(verdict: str, reason: str, previous: str | None) -> None:
    """One line when the verdict changes: recording started, degraded, stopped; with why."""
    if verdict == RECORDING:
        log.info("recording started reason=%r", reason)
    elif verdict == NOT_RECORDING:
        was = previous not in (None, NOT_RECORDING)
        log.warning("%s reason=%r", "recording stopped" if was else "not recording", reason)
    else:
        log.warning("recording degraded reason=%r", reason)


class VerdictTracker:
    """Remembers since when the verdict holds, and says each change once in the log.

    Within one verdict a new kind of reason is said too (starting → NSE not answering → stopped)
    and a stop restarts the "since"; "starting" itself is not worth a line.
    """

    def __init__(self, say: Callable[[str, str, str | None], None] = say_verdict) -> None:
        self._lock = threading.Lock()
        self._said: Judged | None = None
        self._since: datetime | None = None
        self._say = say  # (new verdict, reason, previous verdict)

    def update(self, status: dict[str, Any], now: datetime) -> dict[str, Any]:
        judged = judge(status)
        with self._lock:
            before = self._said
            stopped_now = judged.kind == "stopped" and (before is None or before.kind != "stopped")
            if before is None or before.verdict != judged.verdict or stopped_now:
                self._since = now
            if before is None or (before.verdict, before.kind) != (judged.verdict, judged.kind):
                self._said = judged
                if judged.kind != "starting":
                    self._say(judged.verdict, judged.reason, before.verdict if before else None)
            since = self._since
        return {
            "verdict": judged.verdict,
            "reason": judged.reason,
            "since": _iso(since),
            "exit_code": EXIT_CODES[judged.verdict],
        }


def stale_after_s(status_interval_s: float) -> float:
    """How old a status file may be while its collector still runs."""
    return max(30.0, STALE_STATUS_INTERVALS * status_interval_s)


def current_verdict(
    status: dict[str, Any] | None, *, now: datetime, stale_after: float, where: str
) -> dict[str, Any]:
    """The verdict a reader shows: the one the collector wrote, unless nobody writes any more.

    ``now`` is wall time (status.json is written on wall time); ``where`` names the status file.
    """

    def said(verdict: str, reason: str, since: str | None) -> dict[str, Any]:
        return {
            "verdict": verdict,
            "reason": reason,
            "since": since,
            "exit_code": EXIT_CODES[verdict],
        }

    if status is None:
        return said(
            NOT_RECORDING,
            f"no collector status at {where}: start one with `nsechain collect`",
            None,
        )
    updated_at = status.get("updated_at")
    try:
        updated = datetime.fromisoformat(str(updated_at))
        age = (now - updated).total_seconds()
    except (TypeError, ValueError):
        return said(NOT_RECORDING, f"the status file {where} is not readable (no updated_at)", None)
    if status.get("state") != "stopped" and age > stale_after:
        return said(
            NOT_RECORDING,
            f"no collector is running: its status {where} was last written {age:.0f} s ago "
            f"(pid {status.get('pid', '?')}, state {status.get('state')!r})",
            _iso(updated),
        )
    written = _d(status.get("verdict"))
    if written.get("verdict") in EXIT_CODES and isinstance(written.get("reason"), str):
        return said(written["verdict"], written["reason"], written.get("since"))
    judged = judge(status)  # a status from before verdicts were written
    return said(judged.verdict, judged.reason, None)


def reader_verdict(status: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """The verdict another process shows for the status file of ``settings``' data dir."""
    interval = _d(_d(status).get("settings")).get("status_interval_s")
    return current_verdict(
        status,
        now=now_ist(),  # status.json's heartbeat is wall time
        stale_after=stale_after_s(interval or settings.status_interval_s),
        where=str(settings.status_path),
    )
