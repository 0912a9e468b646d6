"""The continuous scheduler's queue: a next-due time per (symbol, expiry), most overdue first.

Where it sits: between the request plan (``market/plan.py``, via ``Targets``) and the worker
threads (``collector/inflight.py``). The plan gives every pair a tier and a cadence; here that
becomes a period in clock seconds (``cadence × interval_s``) and a due time. A worker asks
``take(now)`` for the most urgent pair that is not already in flight and reports back with
``done``. Nothing here does I/O or sleeps; one lock makes it safe for many workers.

Scheduling rules (DESIGN.md §5):

- The next due time is ``max(due + period, started)``: pairs keep their cadence on a virtual
  timeline, and a pair that fell far behind (a 403 pause, a slow answer) goes to the back of
  the overdue ones instead of being fetched twice to catch up. So no pair starves.
- A pair may be taken up to ``lead`` of its period early when nothing is overdue: the plan
  leaves headroom in the budget, and spending it on earlier fetches keeps every pair fresher
  than promised instead of leaving tokens unused. The lead bound keeps a small universe from
  being fetched again and again.
- New pairs (a start, a longer expiry list) are spread over their tier's period, so a burst
  of them never delays pairs that are due.
- Most urgent = the earliest deadline, ``due + DEADLINE_SLACK × period``: the moment the pair
  would break its promise (a gap of at most 1.1 × the period). Plain "most overdue in
  seconds" spread a shortfall (a slow machine, a 403 pause) evenly in seconds, so a 60 s
  index pair 30 s late waited behind a 30-minute far pair 40 s late: 1.5 × its promise
  against 1.02 ×. By deadline, a shortfall costs every tier the same share of its promise.
- Ties go to the higher-priority tier (the plan's order), then to the plan's pair order.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from nsechain.market.plan import Pair, Plan

__all__ = ["DEADLINE_SLACK", "DEFAULT_LEAD", "DueQueue", "Slot"]

#: How early (a fraction of its period) a pair may be fetched when nothing is overdue.
DEFAULT_LEAD = 0.5
#: How late (a fraction of its period) a pair may be before it breaks its tier's promise.
DEADLINE_SLACK = 0.1


@dataclass(slots=True)
class Slot:
    """One pair's schedule."""

    pair: Pair
    tier: str
    period_s: float
    rank: int  # priority order: tier, then the plan's pair order
    due: float  # clock seconds (epoch) when it should be fetched next
    busy: bool = False
    fetches: int = 0

    @property
    def deadline(self) -> float:
        """When this pair breaks its promise: the queue's order."""
        return self.due + DEADLINE_SLACK * self.period_s


class DueQueue:
    """Every planned pair with its due time; ``take`` hands out the most overdue."""

    def __init__(self, *, lead: float = DEFAULT_LEAD) -> None:
        if not 0.0 <= lead < 1.0:
            raise ValueError(f"lead must be within [0, 1), got {lead}")
        self.lead = lead
        self._lock = threading.Lock()
        self._slots: dict[Pair, Slot] = {}
        self._heap: list[tuple[float, int, Pair]] = []

    # --- the plan ---------------------------------------------------------------------------
    def sync(self, plan: Plan, interval_s: float, now: float) -> None:
        """Follow a new plan: new pairs are due now, gone pairs leave, periods follow tiers."""
        with self._lock:
            wanted: dict[Pair, tuple[str, float, int]] = {}
            rank = 0
            for tier in plan.tiers:
                for pair in tier.pairs:
                    wanted[pair] = (tier.name, tier.cadence * interval_s, rank)
                    rank += 1
            for pair in [p for p in self._slots if p not in wanted]:
                del self._slots[pair]
            new = Counter(name for p, (name, _, _) in wanted.items() if p not in self._slots)
            placed: Counter[str] = Counter()
            for pair, (name, period, order) in wanted.items():
                slot = self._slots.get(pair)
                if slot is None:
                    # Spread a tier's new pairs over its period: a list that grew (far expiries
                    # from contract-info) must not push the near tiers' due pairs aside.
                    due = now + period * placed[name] / new[name]
                    placed[name] += 1
                    self._slots[pair] = Slot(pair, name, period, order, due=due)
                else:
                    slot.tier, slot.period_s, slot.rank = name, period, order
                    slot.due = min(slot.due, now + period)  # a faster tier applies at once
            self._rebuild()

    def sync_due(self) -> None:
        """Re-sort after due times were set from outside (tests, a restored schedule)."""
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        self._heap = [(s.deadline, s.rank, s.pair) for s in self._slots.values() if not s.busy]
        heapq.heapify(self._heap)

    def _push(self, slot: Slot) -> None:
        if self._slots.get(slot.pair) is slot:
            heapq.heappush(self._heap, (slot.deadline, slot.rank, slot.pair))

    # --- workers ----------------------------------------------------------------------------
    def take(self, now: float) -> Slot | None:
        """The idle pair with the earliest deadline that may go now (marked busy), or None.

        A pair may go once it is within ``lead`` of its period of being due. When the most
        urgent pair may not go yet, a less urgent one with a longer period may (its lead is
        longer): one pass over the pairs finds it, so the headroom is not left unused.
        """
        with self._lock:
            while self._heap:
                deadline, _rank, pair = self._heap[0]
                slot = self._slots.get(pair)
                if slot is None or slot.busy or slot.deadline != deadline:
                    heapq.heappop(self._heap)  # an entry left by sync or done: skip it
                    continue
                if slot.due - now <= self.lead * slot.period_s:
                    heapq.heappop(self._heap)
                    slot.busy = True
                    return slot
                break
            early = [
                s
                for s in self._slots.values()
                if not s.busy and s.due - now <= self.lead * s.period_s
            ]
            if not early:
                return None
            slot = min(early, key=lambda s: (s.deadline, s.rank))
            slot.busy = True  # its heap entry is skipped as busy, then as stale
            return slot

    def done(self, slot: Slot, started: float, *, not_before: float | None = None) -> None:
        """A fetch of ``slot`` that started at ``started`` ended (whatever its outcome).

        ``not_before``: NSE asked this pair to wait (a long Retry-After); it is due then.
        """
        with self._lock:
            slot.busy = False
            slot.fetches += 1
            slot.due = max(slot.due + slot.period_s, started, not_before or 0.0)
            self._push(slot)

    def put_back(self, slot: Slot) -> None:
        """A fetch that never went out (paused, stopping): the pair keeps its due time."""
        with self._lock:
            slot.busy = False
            self._push(slot)

    # --- reading ----------------------------------------------------------------------------
    def overdue(self, now: float) -> bool:
        """Whether any idle chain is due now (a refresh must not go ahead of it)."""
        with self._lock:
            return any(not s.busy and s.due <= now for s in self._slots.values())

    def next_due(self) -> float | None:
        with self._lock:
            idle = [s.due - self.lead * s.period_s for s in self._slots.values() if not s.busy]
            return min(idle, default=None)

    def slots(self) -> Iterable[Slot]:
        with self._lock:
            return list(self._slots.values())

    def __len__(self) -> int:
        return len(self._slots)
