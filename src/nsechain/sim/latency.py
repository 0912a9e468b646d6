"""How long the simulated NSE takes to answer: a median, a p99 tail and a per-byte cost.

Where it sits: ``sim/server.py`` holds every answer back ``LatencyModel.draw(...)`` wall seconds
before sending it, so the collector meets NSE's latency rather than loopback's ~0 ms. Real NSE
answers a 240 kB chain in hundreds of milliseconds, in seconds from abroad or a busy edge.

The model: a log-normal whose median is ``median_s`` and whose 99th percentile is ``p99_s``
(sigma = ln(p99 / median) / z99), plus ``per_kb_s`` for every kB sent. All zero: no delay.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

__all__ = ["DEFAULT_LATENCY", "LatencyModel"]

#: The standard normal's 99th percentile.
_Z99 = 2.3263478740408408


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Seconds before an answer goes out; wall time, whatever the simulated clock's speed."""

    median_s: float = 0.0
    p99_s: float = 0.0
    per_kb_s: float = 0.0

    def __post_init__(self) -> None:
        if min(self.median_s, self.p99_s, self.per_kb_s) < 0:
            raise ValueError("latency: median, p99 and per-kB cost must be >= 0")
        if self.median_s > 0 and self.p99_s and self.p99_s < self.median_s:
            raise ValueError(f"latency: p99 {self.p99_s} s is below the median {self.median_s} s")

    @property
    def enabled(self) -> bool:
        return self.median_s > 0 or self.per_kb_s > 0

    @property
    def sigma(self) -> float:
        if self.median_s <= 0 or self.p99_s <= self.median_s:
            return 0.0
        return math.log(self.p99_s / self.median_s) / _Z99

    def draw(self, rng: random.Random, nbytes: int) -> float:
        base = self.median_s * math.exp(rng.gauss(0.0, self.sigma)) if self.median_s > 0 else 0.0
        return base + self.per_kb_s * nbytes / 1024.0


#: What ``make demo`` and the end-to-end tests use: about NSE from India on a good day.
DEFAULT_LATENCY = LatencyModel(median_s=0.25, p99_s=1.5, per_kb_s=0.0002)


class LatencySource:
    """A seeded, thread-safe stream of draws (handler threads share one)."""

    def __init__(self, model: LatencyModel, seed: int) -> None:
        self.model = model
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def delay(self, nbytes: int) -> float:
        if not self.model.enabled:
            return 0.0
        with self._lock:
            return self.model.draw(self._rng, nbytes)
