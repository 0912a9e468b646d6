"""Achieved freshness per tier against the plan's promise, and achieved rate against the budget.

Where it sits: the fetch workers (``collector/inflight.py``) tell ``Freshness`` of every chain
fetch that ended ``ok`` or ``stale`` (NSE was looked at then); the pool's ``report()`` puts
``Freshness.report`` and ``RateMeter.report`` under ``collection_thread.schedule`` in the
status, which ``nsechain status`` and the dashboard show. Pure bookkeeping, no I/O.

Freshness is the gap between two successive snapshots of one pair, in clock seconds (market
time, like the promise: ``cadence × interval_s``). The maximum also counts the gap still open:
a pair that has not been fetched for long shows now, not only once it finally is. Gaps are
kept per tier for the last ``GAPS_KEPT`` snapshots; a new session starts afresh.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nsechain.market.plan import Pair

__all__ = ["Freshness", "RateMeter"]

#: Gaps kept per tier for the median and maximum (a bounded, recent window).
GAPS_KEPT = 2000
#: Wall seconds the achieved rate is averaged over.
RATE_WINDOW_S = 60.0


@dataclass(slots=True)
class _Tier:
    promise_s: float
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS_KEPT))


class Freshness:
    """Per pair: its tier and last snapshot time; per tier: its promise and recent gaps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tiers: dict[str, _Tier] = {}
        self._pairs: dict[Pair, tuple[str, float, bool]] = {}  # tier, since, fetched once

    def follow(self, tiers: dict[Pair, tuple[str, float]], now: float) -> None:
        """The plan's pairs (pair → tier, promise in clock seconds); new ones count from now."""
        with self._lock:
            promises = dict(tiers.values())  # tier → promise, in the plan's order
            kept = self._tiers
            self._tiers = {n: kept.get(n) or _Tier(p) for n, p in promises.items()}
            for name, promise in promises.items():
                self._tiers[name].promise_s = promise
            self._pairs = {
                pair: (name, *self._pairs.get(pair, (name, now, False))[1:])
                for pair, (name, _) in tiers.items()
            }

    def restart(self, now: float) -> None:
        """A new session: the night between two is no gap."""
        with self._lock:
            for tier in self._tiers.values():
                tier.gaps.clear()
            self._pairs = {p: (name, now, False) for p, (name, _, _) in self._pairs.items()}

    def snapshot(self, pair: Pair, at: float) -> None:
        """A fetch of ``pair`` ended ok or stale at ``at`` (clock seconds)."""
        with self._lock:
            known = self._pairs.get(pair)
            if known is None:
                return
            name, since, seen = known
            if seen:
                self._tiers[name].gaps.append(max(0.0, at - since))
            self._pairs[pair] = (name, at, True)

    def report(self, now: float) -> list[dict[str, Any]]:
        """Per tier: promise, pairs, median and max gap (the open gaps included), in seconds."""
        with self._lock:
            open_gaps: dict[str, list[float]] = {name: [] for name in self._tiers}
            fetched: dict[str, int] = dict.fromkeys(self._tiers, 0)
            for name, since, seen in self._pairs.values():
                open_gaps[name].append(now - since)
                fetched[name] += seen
            out = []
            for name, tier in self._tiers.items():
                gaps = list(tier.gaps)
                worst = max([*gaps, *open_gaps[name]], default=None)
                out.append(
                    {
                        "tier": name,
                        "promise_s": tier.promise_s,
                        "pairs": len(open_gaps[name]),
                        "pairs_fetched": fetched[name],
                        "gaps": len(gaps),
                        "median_gap_s": _round(statistics.median(gaps) if gaps else None),
                        "max_gap_s": _round(worst),
                        "max_over_promise": _round(
                            None if worst is None else worst / tier.promise_s, 2
                        ),
                    }
                )
            return out


class RateMeter:
    """Requests sent per wall second over the last ``window_s``, from a running count."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def report(self, wall: float, count: int, budget: float, effective: float) -> dict[str, Any]:
        """Achieved req/s against the configured and the effective (after AIMD) budget."""
        with self._lock:
            self._samples.append((wall, count))
            while len(self._samples) > 2 and wall - self._samples[1][0] >= self.window_s:
                self._samples.popleft()
            t0, n0 = self._samples[0]
        achieved = (count - n0) / (wall - t0) if wall - t0 > 0 else None
        return {
            "budget_rps": budget,
            "effective_budget_rps": effective,
            "achieved_rps": _round(achieved, 3),
            "achieved_over_budget": _round(None if achieved is None else achieved / budget, 3),
            "rate_window_s": _round(wall - t0),
        }


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)
