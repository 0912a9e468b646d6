"""The collector's clock: the market time it lives in, and how it sleeps through it.

Where it sits: ``OptionsThreadedManager`` reads ``now()`` to decide whether the market is open
and when the next tick is due, and sleeps with ``wait()``; the ``Collector`` stamps each
fetch (``fetched_at``) with ``now()``. ``WallClock``, the default, is IST wall time.
``ScaledClock`` runs ``speed`` times faster than the wall from a chosen start. With the same
start and speed as the simulator (``sim.SimConfig``), a collector lives through a simulated
trading day, the close, the night and the next open in seconds. ``FixedClock`` stands still
until it is moved (``set``/``advance``): for callers that step a frozen simulator minute by
minute, so nothing in the collector reads the real date.

What follows the clock: market time. That is tick alignment and tick numbers, the session
calendar, the universe's daily refresh and expiry cutoffs, tick file names, and ``fetched_at``.

What stays on wall time, whatever the clock: everything about HTTP. NSE's rate limit and the
simulator's count requests per real second. The token bucket, backoff, Retry-After, cookie
age and the 403 cool-off are wall time too, and so are batch loads and status heartbeats.

``clock_of(settings)`` builds the clock the settings ask for (``clock_start``, ``clock_speed``,
``clock_anchor``): the one place an edge (the CLI, a collector started as a child process by a
harness) gets "now" from, so a collector, its live view and ``nsechain calendar`` can all run
on a simulator's clock instead of today's.

So one number crosses from one to the other. A tick of ``interval_s`` clock seconds lasts
``interval_s / speed`` wall seconds, and the plan fits ``rate × interval_s / speed ×
(1 − headroom)`` requests into it (``Targets``). At ``speed`` 1 that is the usual budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from nsechain.collector.workers import StopToken
from nsechain.timeutil import IST, now_ist

if TYPE_CHECKING:
    from nsechain.config import Settings

__all__ = ["Clock", "FixedClock", "ScaledClock", "WallClock", "clock_of", "next_instant"]


class Clock(Protocol):
    """What time it is for the market logic, and a stop-aware sleep in that time."""

    @property
    def speed(self) -> float:
        """Clock seconds per wall second (1 for the wall clock)."""
        ...

    def now(self) -> datetime:
        """The current instant: aware, in IST."""
        ...

    def wait(self, stop: StopToken, seconds: float) -> bool:
        """Sleep ``seconds`` of clock time, or less if ``stop`` is set first (then True)."""
        ...


class WallClock:
    """Real time: ``now_ist()`` and ``StopToken.wait``, exactly as without a clock."""

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return now_ist()

    def wait(self, stop: StopToken, seconds: float) -> bool:
        return stop.wait(seconds)


class ScaledClock:
    """``start + speed × (wall time since construction)``: accelerated market time.

    It starts when it is built. To follow a simulator, build it with the simulator's start
    and speed at the moment the simulator's clock starts (or is set).
    """

    def __init__(self, start: datetime, speed: float) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self._start = _aware_ist(start)
        self._speed = float(speed)
        self._t0 = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self._speed)

    def wait(self, stop: StopToken, seconds: float) -> bool:
        """Sleep ``seconds / speed`` wall seconds. It never returns before ``seconds`` of clock
        time have passed, unless stopped: a tick due at 09:16:00 must not read 09:15:59.999."""
        until = self.now() + timedelta(seconds=max(0.0, seconds))
        while (left := (until - self.now()).total_seconds()) > 0:
            if stop.wait(left / self._speed):
                return True
        return stop.is_set()


class FixedClock:
    """A clock that stands at ``at`` until moved: the twin of a simulator frozen at speed 0.

    ``wait`` sleeps wall seconds and leaves the time where it is: a loop on it ticks at the
    same market instant every interval, like a collector polling a frozen NSE.
    """

    def __init__(self, at: datetime) -> None:
        self._at = _aware_ist(at)

    @property
    def speed(self) -> float:
        return 1.0  # the request budget of a tick is its wall-time budget

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware_ist(at)

    def advance(self, by: timedelta) -> datetime:
        self._at += by
        return self._at

    def wait(self, stop: StopToken, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


def clock_of(settings: Settings, wall: Callable[[], datetime] = now_ist) -> Clock:
    """The clock ``settings`` ask for: the wall clock unless ``clock_start`` is set.

    With ``clock_anchor`` the clock reads ``clock_start`` at that wall instant and has run
    on since, so processes started at different moments share one market time (a harness
    passes the simulator's ``now`` and the wall time it read it at). Speed 0 stands still.
    ``wall``: the wall clock the anchor is measured on (injected by tests).
    """
    start = settings.clock_start
    if start is None:
        return WallClock()
    if settings.clock_speed == 0:
        return FixedClock(start)
    if settings.clock_anchor is not None:
        behind = (wall() - settings.clock_anchor).total_seconds()
        start += timedelta(seconds=behind * settings.clock_speed)
    return ScaledClock(start, settings.clock_speed)


def _aware_ist(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"need an aware start, got naive {moment!r}")
    return moment.astimezone(IST)


def next_instant(now: datetime, last: datetime | None, interval_s: float) -> datetime:
    """When the next interval's file is due: the instant after the last file's (``last``) if
    that one is less than an interval ago, so a write that overran (a loaded machine, a slow
    disk) delays the next file instead of skipping it; further behind (a stall, a new
    session) or with no last file, the next instant aligned on the clock in IST (with a 60 s
    interval, files fall on whole minutes)."""
    interval = timedelta(seconds=interval_s)
    if last is not None and now - interval < last + interval <= now:
        return last + interval
    return datetime.fromtimestamp(math.floor(now.timestamp() / interval_s + 1) * interval_s, IST)
