"""The simulator's clock: real or accelerated time, and which market instant a chain shows.

Where it sits: owned by ``server.Simulator``; ``market.py`` and ``render.py`` ask it for the
*snapshot instant*, the NSE timestamp of the chain being served.

Simulated time runs at ``speed`` × wall time from a settable start (``speed=60`` turns the
375-minute session into 6.25 minutes; ``speed=0`` stops the clock, which tests use for
byte-stable output). During the normal market (09:15–15:30 IST on a trading day) the snapshot
instant is the simulated time truncated to the second. Outside it the chain is frozen at the
last close: 15:30:00 of the same day after the close, of the previous trading day before the
open, on weekends and on holidays.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nsechain.sim.calendar import (
    SESSION_SECONDS,
    is_trading_day,
    previous_trading_day,
    session_bounds,
)
from nsechain.timeutil import IST, now_ist

__all__ = ["SimClock", "Snapshot", "snapshot_at"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The market instant a response describes."""

    at: datetime  #: aware IST, whole seconds; the NSE ``timestamp``
    day: date  #: the trading day whose session ``at`` belongs to
    elapsed: int  #: seconds since that day's 09:15 open, 0..22500
    is_open: bool  #: True while the normal market is open

    @property
    def key(self) -> int:
        """A compact cache key: epoch seconds of ``at``."""
        return int(self.at.timestamp())


def _last_close_before(day: date) -> Snapshot:
    prev = previous_trading_day(day)
    return Snapshot(session_bounds(prev)[1], prev, SESSION_SECONDS, False)


def snapshot_at(now: datetime) -> Snapshot:
    """The snapshot NSE would serve at simulated instant ``now`` (aware)."""
    now = now.astimezone(IST).replace(microsecond=0)
    day = now.date()
    if not is_trading_day(day):
        return _last_close_before(day)
    open_, close = session_bounds(day)
    if now < open_:
        return _last_close_before(day)
    if now >= close:
        return Snapshot(close, day, SESSION_SECONDS, False)
    return Snapshot(now, day, int((now - open_).total_seconds()), True)


class SimClock:
    """Simulated IST time: ``start + (wall elapsed) × speed``. Thread-safe; can be re-set."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._start = now_ist()
        self._t0 = time.monotonic()
        self._speed = 1.0
        self.set(start, speed)

    def set(self, start: datetime | None = None, speed: float | None = None) -> None:
        """Jump to ``start`` (None: keep the current simulated time) and/or change ``speed``."""
        if speed is not None and speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            current = self._now_locked()
            self._start = _aware(start) if start is not None else current
            self._t0 = time.monotonic()
            if speed is not None:
                self._speed = float(speed)

    @property
    def speed(self) -> float:
        with self._lock:
            return self._speed

    def now(self) -> datetime:
        """The current simulated instant, aware, in IST."""
        with self._lock:
            return self._now_locked()

    def snapshot(self) -> Snapshot:
        """The snapshot a chain requested now would show."""
        return snapshot_at(self.now())

    def _now_locked(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self._speed
        return self._start + timedelta(seconds=elapsed)


def _aware(value: datetime) -> datetime:
    # A naive start means IST wall time, which is how users think about market hours.
    return value.replace(tzinfo=IST) if value.tzinfo is None else value.astimezone(IST)
