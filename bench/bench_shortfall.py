"""A lasting shortfall: the scheduler's order against the earliest-deadline order it replaced.

Where it sits: ``bench/``; run ``.venv/bin/python bench/bench_shortfall.py`` (under a second,
no network). NSE answering slower than the plan assumed, for a whole session, means fewer
requests go out than the plan asks for. The question is who pays. Here the
``collector.scheduler.DueQueue`` is served on a clock only this loop moves, at ``--shares``
of the plan's demand, with the day test's universe (NIFTY's 18 expiries, four stocks with
three: tiers of 1, 2 and 6 intervals), every pair new at the start, for ``--hours`` hours.

Two orders in turn, on the same queue code:

- ``deadline``: the order before this change, ``due + 0.1 × period`` earliest first;
- ``share`` (the product): the most overdue as a share of its period first.

Printed per order and share: each tier's median and worst gap between two fetches of a
pair, in periods (a promise kept is 1.0; a fair shortfall of share s gives 1/s to every
tier), and the index tier's worst gap of deadline ÷ share.

Then a spare budget (``--spare``: tokens at more than the demand, as when NSE needs none of
the fifth of the budget the plan keeps for retries), two rules for an early fetch in turn:

- ``timeline`` (before): the early fetch was the pair's turn moved earlier, its next one
  still a period after the old due time;
- ``started`` (the product): the next turn is a period after the early fetch.

Printed: the share of the tokens used, and each tier's median and worst gap.
"""

from __future__ import annotations

import argparse
import heapq
from datetime import date, timedelta

from nsechain.collector.scheduler import DueQueue, Slot, serve_on_paper
from nsechain.market.plan import Plan, PlanItem, make_plan


class DeadlineQueue(DueQueue):
    """The earlier order: one heap over every pair, earliest ``due + 0.1 × period`` first."""

    def take(self, now: float) -> Slot | None:
        with self._lock:
            heap = [
                (s.due + 0.1 * s.period_s, s.rank, s.pair)
                for s in self._slots.values()
                if not s.busy and s.due - now <= self.lead * s.period_s
            ]
            if not heap:
                return None
            slot = self._slots[heapq.nsmallest(1, heap)[0][2]]
            slot.busy = True
            return slot


class TimelineQueue(DueQueue):
    """The earlier rule for an early fetch: the next turn stays a period after the old due."""

    def done(
        self,
        slot: Slot,
        started: float,
        *,
        not_before: float | None = None,
        took_s: float | None = None,  # no latency margin either: answers are instant here
    ) -> None:
        with self._lock:
            slot.busy = False
            slot.due = max(slot.due + slot.period_s, started, not_before or 0.0)
            self._push(slot)


def the_plan() -> Plan:
    nifty = [date(2026, 12, 1) + timedelta(days=7 * i) for i in range(4)]
    nifty += [date(2027 + i // 2, 6 if i % 2 else 12, 28) for i in range(14)]
    stocks = (date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23))
    items = [PlanItem("NIFTY", True, tuple(nifty))]
    items += [PlanItem(s, False, stocks) for s in ("RELIANCE", "M&M", "TCS", "SBIN")]
    return make_plan(items, budget=1 / 6, interval_s=60.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shares", default="1.0,0.8,0.6,0.4")
    ap.add_argument("--spare", default="1.25,1.5,2.0")
    ap.add_argument("--hours", type=float, default=2.0)
    args = ap.parse_args()
    plan = the_plan()
    demand = sum(len(t.pairs) / (t.cadence * 60.0) for t in plan.tiers)
    tiers = [t.name for t in plan.tiers]
    print(f"plan: {', '.join(f'{t.name} {len(t.pairs)} every {t.cadence}' for t in plan.tiers)}")
    print(
        f"{'share':>5} {'order':>8}  " + "  ".join(f"{t:>18}" for t in tiers) + "   (median/worst)"
    )
    for share in (float(x) for x in args.shares.split(",")):
        worst: dict[str, float] = {}
        for name, queue in (("deadline", DeadlineQueue()), ("share", DueQueue())):
            gaps = serve_on_paper(
                queue,
                plan,
                interval_s=60.0,
                rate=share * demand,
                until_s=args.hours * 3600,
                warm_s=1200.0,
            )
            worst[name] = max(gaps["index-near"])
            print(f"{share:>5.1f} {name:>8}  " + _cells(gaps, tiers))
        ratio = worst["deadline"] / worst["share"]
        print(f"{'':>5} index-near worst gap, deadline ÷ share: {ratio:.2f}x")
    spare(plan, demand, tiers, [float(x) for x in args.spare.split(",")], args.hours)


def spare(plan: Plan, demand: float, tiers: list[str], shares: list[float], hours: float) -> None:
    print(
        f"\nspare budget: {'share':>5} {'rule':>8} {'used':>5}  "
        + "  ".join(f"{t:>18}" for t in tiers)
    )
    for share in shares:
        for name, queue in (("timeline", TimelineQueue()), ("started", DueQueue())):
            rate = share * demand
            gaps = serve_on_paper(
                queue, plan, interval_s=60.0, rate=rate, until_s=hours * 3600, warm_s=1200.0
            )
            used = sum(map(len, gaps.values())) / ((hours * 3600 - 1200.0) * rate)
            print(f"{'':>13} {share:>5.2f} {name:>8} {used:>5.2f}  " + _cells(gaps, tiers))


def _cells(gaps: dict[str, list[float]], tiers: list[str]) -> str:
    """Each tier's median/worst gap, one cell a tier."""
    cells = []
    for t in tiers:
        got = sorted(gaps[t])
        cells.append(f"{got[len(got) // 2]:>8.2f}/{got[-1]:<9.2f}")
    return "  ".join(f"{c:>18}" for c in cells)


if __name__ == "__main__":
    main()
