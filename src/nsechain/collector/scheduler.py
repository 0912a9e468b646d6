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
  leaves headroom in the budget (a fifth is kept for retries), and spending it on earlier
  fetches keeps every pair fresher than promised instead of leaving tokens unused. An early
  fetch is the pair's turn: its next one is due a period after it (``started + period``),
  so a spare budget is spent in full, and as a share of every tier's period alike (kept on
  the virtual timeline, each pair would only move its one turn a period earlier, and 10 %
  of the budget stayed unused at 10 req/s and 1.5 s answers). The lead bound keeps a small
  universe from being fetched again and again.
- Each turn is aimed early by the spread of NSE's recent answer times (95th less 5th
  percentile, at most a tenth of the period): the gap between two snapshots is the gap
  between their requests plus the second answer's time less the first's, so without it a
  slow answer after a fast one broke a 60 s promise by the tail (67 s at 1.5 s answers).
- New pairs (a start, a longer expiry list) are spread over their tier's period, so a burst
  of them never delays pairs that are due.
- Most urgent = the most overdue as a share of its period, ``(now - due) / period``. A
  shortfall (NSE slower than the plan, a slow machine, a 403 pause) then costs every tier the
  same share of its promise: each pair's gap grows by the same factor. Two earlier orders
  did not: "most overdue in seconds" made a 60 s index pair 30 s late wait behind a 30-minute
  far pair 40 s late (1.5 × its promise against 1.02 ×); "earliest deadline" (``due`` plus a
  tenth of the period) did the same under a lasting shortfall: a far pair's due stays where
  it fell behind while a just-fetched index pair's due restarts from now, so every backlogged
  far pair went first and index pairs waited 5 minutes at a 60 s promise (seen at 60 % of
  the budget under libfaketime, 20-29 requests between index fetches where 10 were planned).
- All pairs of a tier share one period, so within a tier the most urgent is the earliest due:
  one heap per tier, and ``take`` compares only the tiers' heads.
- Ties go to the higher-priority tier (the plan's order), then to the plan's pair order.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from nsechain.market.plan import Pair, Plan

__all__ = ["DEFAULT_LEAD", "DueQueue", "Slot", "serve_on_paper"]

#: How early (a fraction of its period) a pair may be fetched when nothing is overdue.
DEFAULT_LEAD = 0.5
#: How many recent answer times the latency margin is read from.
LATENCY_WINDOW = 256
#: The margin is no more than this share of a pair's period (the promise's tolerance).
MARGIN_CAP = 0.1


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

    def urgency(self, now: float) -> float:
        """How overdue at ``now``, in periods (negative: not due yet): the queue's order."""
        return (now - self.due) / self.period_s


class DueQueue:
    """Every planned pair with its due time; ``take`` hands out the most overdue."""

    def __init__(self, *, lead: float = DEFAULT_LEAD) -> None:
        if not 0.0 <= lead < 1.0:
            raise ValueError(f"lead must be within [0, 1), got {lead}")
        self.lead = lead
        self._lock = threading.Lock()
        self._slots: dict[Pair, Slot] = {}
        self._heaps: dict[str, list[tuple[float, int, Pair]]] = {}  # per tier: (due, rank, pair)
        self._took: deque[float] = deque(maxlen=LATENCY_WINDOW)  # recent answer times, clock s
        self._margin = 0.0

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
        self._heaps = {}
        for s in self._slots.values():
            if not s.busy:
                self._heaps.setdefault(s.tier, []).append((s.due, s.rank, s.pair))
        for heap in self._heaps.values():
            heapq.heapify(heap)

    def _push(self, slot: Slot) -> None:
        if self._slots.get(slot.pair) is slot:
            heapq.heappush(self._heaps.setdefault(slot.tier, []), (slot.due, slot.rank, slot.pair))

    def _head(self, tier: str, heap: list[tuple[float, int, Pair]]) -> Slot | None:
        """The tier's idle pair due first; entries left behind by sync or done are dropped."""
        while heap:
            due, _rank, pair = heap[0]
            slot = self._slots.get(pair)
            if slot is None or slot.busy or slot.due != due or slot.tier != tier:
                heapq.heappop(heap)
                continue
            return slot
        return None

    # --- workers ----------------------------------------------------------------------------
    def take(self, now: float) -> Slot | None:
        """The idle pair most overdue for its period that may go now (marked busy), or None.

        A pair may go once it is within ``lead`` of its period of being due: when nothing is
        overdue, the spare token goes to the pair nearest its turn, so a far pair (long
        period, long lead) may go well before an index pair that is due sooner in seconds.
        """
        with self._lock:
            best: Slot | None = None
            best_key = (0.0, 0)
            for tier, heap in self._heaps.items():
                slot = self._head(tier, heap)
                if slot is None:
                    continue
                key = (slot.urgency(now), -slot.rank)
                if best is None or key > best_key:
                    best, best_key = slot, key
            if best is None or best_key[0] < -self.lead:
                return None
            heapq.heappop(self._heaps[best.tier])  # ``best`` is that heap's head
            best.busy = True
            return best

    def done(
        self,
        slot: Slot,
        started: float,
        *,
        not_before: float | None = None,
        took_s: float | None = None,
    ) -> None:
        """A fetch of ``slot`` that started at ``started`` ended (whatever its outcome).

        ``not_before``: NSE asked this pair to wait (a long Retry-After); it is due then.
        ``took_s``: how long NSE took to answer (clock seconds), for the latency margin.
        """
        with self._lock:
            if took_s is not None and took_s >= 0:
                self._note_latency(took_s)
            slot.busy = False
            slot.fetches += 1
            # Early (a spare token): the next turn counts from this fetch; on time or late:
            # from the timeline, so a late pair is not fetched twice to catch up.
            step = started if started < slot.due else slot.due
            period = slot.period_s - min(self._margin, MARGIN_CAP * slot.period_s)
            slot.due = max(step + period, started, not_before or 0.0)
            self._push(slot)

    def _note_latency(self, took_s: float) -> None:
        # Two snapshots' gap is the gap between their requests plus the second answer's time
        # less the first's: aiming each request that spread early (the 5th to the 95th
        # percentile of recent answers) keeps slow answers after fast ones within the promise.
        self._took.append(took_s)
        if len(self._took) >= 20 and len(self._took) % 8 == 0:
            ranked = sorted(self._took)
            n = len(ranked)
            self._margin = ranked[(n * 95) // 100] - ranked[(n * 5) // 100]

    @property
    def margin_s(self) -> float:
        """How early each turn is aimed for answer-time jitter (before the per-pair cap)."""
        with self._lock:
            return self._margin

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


def serve_on_paper(
    queue: DueQueue, plan: Plan, *, interval_s: float, rate: float, until_s: float, warm_s: float
) -> dict[str, list[float]]:
    """Serve ``queue`` at ``rate`` req/s of a clock only this loop moves, answers instant, every
    pair new at 0; per tier, the gaps between two fetches of a pair after ``warm_s``, in
    periods (1.0 = the promise kept). For tests and ``bench/bench_shortfall.py``: what the
    order does under a shortfall, free of timing."""
    queue.sync(plan, interval_s, now=0.0)
    last: dict[Pair, float] = {}
    gaps: defaultdict[str, list[float]] = defaultdict(list)
    for n in range(int(until_s * rate)):
        now = n / rate
        slot = queue.take(now)
        if slot is None:
            continue
        if slot.pair in last and now > warm_s:
            gaps[slot.tier].append((now - last[slot.pair]) / slot.period_s)
        last[slot.pair] = now
        queue.done(slot, started=now)
    return dict(gaps)
