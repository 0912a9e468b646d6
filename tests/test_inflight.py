"""The continuous scheduler (issue 12): due queue order, a slow pair, the limiter under load.

Counts only, never durations: what the simulator served, what fetch_log holds, what the queue
hands out on an injected clock.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import e2e_settings, wait_for
from nsechain.collector.inflight import default_in_flight
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.scheduler import DueQueue, Slot
from nsechain.market.plan import PlanItem, make_plan
from nsechain.sim.latency import LatencyModel
from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig
from nsechain.store.files import read_tick_fetch_log
from nsechain.store.paths import list_tick_files

E1, E2 = date(2026, 12, 1), date(2026, 12, 29)


def _plan() -> object:
    items = [PlanItem("NIFTY", True, (E1, E2)), PlanItem("TCS", False, (E2,))]
    return make_plan(items, budget=1.0, interval_s=60.0)


def test_the_most_overdue_pair_goes_first_and_a_busy_one_holds_up_nothing() -> None:
    plan = make_plan(
        [PlanItem("NIFTY", True, (E1,)), PlanItem("TCS", False, (E1, E2))],
        budget=100.0,
        interval_s=60.0,
    )
    q = DueQueue(lead=0.0)
    q.sync(plan, 60.0, now=1000.0)
    first = q.take(1000.0)
    assert first is not None
    # The first pair is still in flight (a 30 s answer): the others go out regardless.
    others = [q.take(1000.0) for _ in range(2)]
    assert all(s is not None for s in others)
    assert q.take(1000.0) is None  # everything is in flight or not yet due
    for s in others:
        assert s is not None
        q.done(s, started=1000.0)
    assert q.take(1000.0 + 59.0) is None  # not due again before its period
    again = q.take(1000.0 + 60.0)
    assert again is not None and again.pair != first.pair


def test_a_pair_far_behind_is_not_fetched_twice_to_catch_up() -> None:
    plan = make_plan([PlanItem("NIFTY", True, (E1,))], budget=100.0, interval_s=60.0)
    q = DueQueue(lead=0.0)
    q.sync(plan, 60.0, now=0.0)
    slot = q.take(0.0)
    assert slot is not None
    q.done(slot, started=600.0)  # a 10-minute pause
    assert slot.due == 600.0  # due now, behind whatever else is overdue; not at 60, 120 ...


def _two_tiers(queue: DueQueue) -> tuple[Slot, Slot]:
    plan = make_plan(
        [PlanItem("NIFTY", True, (E1,)), *(PlanItem(f"S{i}", False, (E1, E2)) for i in range(9))],
        budget=0.1,
        interval_s=60.0,
    )
    queue.sync(plan, 60.0, now=0.0)
    by_tier = {s.tier: s for s in queue.slots()}
    near, far = by_tier["index-near"], by_tier["far"]
    assert far.period_s >= 5 * near.period_s
    return near, far


def test_a_shortfall_costs_every_tier_the_same_share_of_its_promise() -> None:
    # Both late (a slow spell): the index pair by a quarter of its short period, the far pair
    # by more seconds but a far smaller share of its long one. The index pair goes first:
    # plain "most overdue in seconds" would break its promise to keep the far one's.
    q = DueQueue(lead=0.0)
    near, far = _two_tiers(q)
    for s in q.slots():
        s.due = 10_000.0  # none due yet
    near.due = 1000.0
    far.due = 1000.0 - 0.2 * near.period_s
    q.sync_due()
    now = near.due + 0.25 * near.period_s
    assert q.take(now) is near
    assert q.take(now) is far


def test_when_the_most_urgent_pair_may_not_go_yet_a_longer_period_may() -> None:
    q = DueQueue(lead=0.5)
    near, far = _two_tiers(q)
    for s in q.slots():
        s.due = 10_000_000.0
    # The index pair is due soonest, but beyond half its period; the far pair is due later
    # and within half of its (longer) period: the spare token goes to the far pair.
    near.due = 1000.0 + 0.6 * near.period_s
    far.due = near.due + 1.0
    q.sync_due()
    assert q.take(1000.0) is far
    assert q.take(1000.0) is None


def test_default_in_flight_fills_the_budget_at_slow_answers() -> None:
    # Little's law: rate x latency requests are in flight on average.
    assert default_in_flight(3.0) >= 3.0 * 1.5 * 1.5
    assert default_in_flight(10.0) >= 10.0 * 1.5 * 1.5


def test_the_limiter_holds_with_many_requests_in_flight(tmp_path: Path) -> None:
    # Slow answers and 12 workers: many requests wait at once, and the simulator, whose limit
    # equals the budget, counts every one. No block means the budget was never exceeded.
    config = SimConfig(
        seed=2,
        speed=60,
        start="2026-11-25T10:00:00",
        rate_limit=8.0,
        # Two seconds of slack: on a loaded machine the simulator process itself may be
        # descheduled and then see a second's arrivals at once; a real overrun still trips it.
        rate_burst=16.0,
        latency=LatencyModel(median_s=0.3, p99_s=1.0),
    )
    # Its own process: a simulator sharing the collector's GIL would see arrivals bunched by
    # the collector's own parsing, which no real server does.
    with SimulatorProcess(config) as sim:
        settings = e2e_settings(
            tmp_path, sim.base_url, symbols="NIFTY,BANKNIFTY,TCS,INFY,SBIN,RELIANCE",
            rate=8.0, burst=1, in_flight=12, interval_s=2.0,
        )  # fmt: skip
        m = OptionsThreadedManager(settings)
        m.start_all_threads()
        try:
            wait_for(lambda: sim.counters()["requests_total"] >= 60, timeout=60)
            m.get_thread_status()  # the rate is counted between two reports
            schedule = m.get_thread_status()["collection_thread"]["schedule"]
        finally:
            assert m.stop_all_threads(timeout=30)
        counters = sim.counters()
    assert counters["rate_limit"]["blocks"] == 0
    # What was fetched is in the files: every chain the simulator served has a fetch_log row
    # (the SIGTERM-like stop wrote what completed).
    files = list_tick_files(settings.pending_dir) + list_tick_files(settings.processed_dir)
    rows = [r for f in files for r in read_tick_fetch_log(f).to_pylist()]
    chains = [r for r in rows if r["endpoint"] == "option-chain-v3"]
    served = sum(counters["requests"]["/api/option-chain-v3"].values())
    assert served - len(chains) <= 12  # at most the ones still in flight at the stop
    assert chains
    # The status shows the achieved rate against the budget and freshness per tier.
    assert schedule["budget_rps"] == 8.0 and schedule["achieved_rps"] is not None
    tiers = {t["tier"]: t for t in schedule["tiers"]}
    assert tiers["index-near"]["pairs_fetched"] > 0
    assert all(t["promise_s"] > 0 and t["max_gap_s"] is not None for t in tiers.values())
