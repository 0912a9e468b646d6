"""The request plan: budget, fairness, determinism (hypothesis), AIMD, sharding, rendering."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsechain.errors import ConfigError
from nsechain.market import INDEX_SYMBOLS
from nsechain.market.plan import (
    Pair,
    Plan,
    PlanItem,
    TierRule,
    capacity_of,
    default_policy,
    make_plan,
    render_plan,
    tick_number,
)
from nsechain.market.rate import AimdRate
from nsechain.market.shard import Shard, parse_shard, select_shard, shard_of
from nsechain.timeutil import IST

FIRST = date(2026, 8, 4)
Policy = tuple[TierRule, ...]


def full_universe() -> list[PlanItem]:
    """5 indices (18/3/3/3/3 expiries) and 208 stocks with 3 monthly expiries each."""
    counts = dict(zip(INDEX_SYMBOLS, (18, 3, 3, 3, 3), strict=True))
    items = [
        PlanItem(s, True, tuple(FIRST + timedelta(weeks=i) for i in range(n)))
        for s, n in counts.items()
    ]
    items += [
        PlanItem(f"STOCK{i:03d}", False, tuple(FIRST + timedelta(days=28 * m) for m in range(3)))
        for i in range(208)
    ]
    return items


def all_pairs(items: list[PlanItem]) -> set[Pair]:
    return {Pair(i.symbol, e) for i in items for e in i.expiries}


def fetch_ticks(plan: Plan, horizon: int) -> dict[Pair, list[int]]:
    seen: dict[Pair, list[int]] = defaultdict(list)
    for k in range(horizon):
        for pair in plan.tick(k):
            seen[pair].append(k)
    return seen


# --- hypothesis: the three promises --------------------------------------------------------

symbols = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789&-", min_size=1, max_size=10)
universes = st.dictionaries(
    symbols,
    st.tuples(st.booleans(), st.integers(min_value=1, max_value=18)),
    min_size=1,
    max_size=40,
).map(
    lambda d: [
        PlanItem(s, idx, tuple(FIRST + timedelta(days=7 * i) for i in range(n)))
        for s, (idx, n) in d.items()
    ]
)
budgets = st.floats(min_value=0.05, max_value=20, allow_nan=False)
intervals = st.sampled_from([5.0, 15.0, 30.0, 60.0, 120.0])
headrooms = st.sampled_from([0.0, 0.1, 0.2, 0.5])
weights = st.floats(min_value=0.1, max_value=100, allow_nan=False)
policies = st.builds(
    lambda a, b, c, n: default_policy(index_near=n, index_weight=a, stock_weight=b, far_weight=c),
    weights,
    weights,
    weights,
    st.integers(min_value=1, max_value=3),
)


def plan_or_none(
    items: list[PlanItem],
    budget: float,
    interval: float,
    headroom: float,
    policy: Policy,
) -> Plan | None:
    try:
        return make_plan(
            items, budget=budget, interval_s=interval, headroom=headroom, policy=policy
        )
    except ConfigError:
        # Only when the capacity cannot give each non-empty tier one request per tick.
        assert capacity_of(budget, interval, headroom) < 4
        return None


@settings(max_examples=150, deadline=None)
@given(universes, budgets, intervals, headrooms, policies)
def test_never_plans_more_than_the_budget_allows(
    items: list[PlanItem],
    budget: float,
    interval: float,
    headroom: float,
    policy: Policy,
) -> None:
    plan = plan_or_none(items, budget, interval, headroom, policy)
    if plan is None:
        return
    limit = budget * interval * (1 - headroom)
    assert plan.max_requests_per_tick <= plan.capacity <= limit + 1e-6
    for k in range(2 * plan.full_refresh_ticks + 3):
        assert len(plan.tick(k)) <= plan.capacity


@settings(max_examples=150, deadline=None)
@given(universes, budgets, intervals, headrooms, policies, st.integers(0, 10**6))
def test_every_pair_is_fetched_within_its_bound(
    items: list[PlanItem],
    budget: float,
    interval: float,
    headroom: float,
    policy: Policy,
    start: int,
) -> None:
    plan = plan_or_none(items, budget, interval, headroom, policy)
    if plan is None:
        return
    assert set(plan.pairs) == all_pairs(items)
    horizon = 2 * plan.full_refresh_ticks
    seen: dict[Pair, list[int]] = defaultdict(list)
    for k in range(start, start + horizon):
        tick = plan.tick(k)
        assert len(tick) == len(set(tick))
        for pair in tick:
            seen[pair].append(k)
    for pair in plan.pairs:
        bound = plan.max_period(pair)
        ticks = [start - 1, *seen[pair], start + horizon]
        # A fetch in every window of ``bound`` consecutive ticks.
        assert max(b - a for a, b in itertools.pairwise(ticks)) <= bound


@settings(max_examples=100, deadline=None)
@given(universes, budgets, intervals, st.randoms(use_true_random=False))
def test_plan_is_deterministic_whatever_the_input_order(
    items: list[PlanItem], budget: float, interval: float, rnd: random.Random
) -> None:
    plan = plan_or_none(items, budget, interval, 0.2, default_policy())
    if plan is None:
        return
    shuffled = list(items)
    rnd.shuffle(shuffled)
    again = make_plan(shuffled, budget=budget, interval_s=interval)
    assert [again.tick(k) for k in range(10)] == [plan.tick(k) for k in range(10)]


@given(st.sets(symbols, max_size=300), st.integers(min_value=1, max_value=12))
def test_shards_partition_the_universe_exactly(names: set[str], count: int) -> None:
    items = [PlanItem(s, False, (FIRST,)) for s in sorted(names)]
    owners: dict[str, list[int]] = defaultdict(list)
    for index in range(count):
        for item in select_shard(items, index, count):
            owners[item.symbol].append(index)
    assert set(owners) == names
    assert all(len(v) == 1 and v[0] == shard_of(s, count) for s, v in owners.items())


# --- the default policy on the real-sized universe -----------------------------------------


def test_full_universe_at_3_req_s() -> None:
    items = full_universe()
    plan = make_plan(items, budget=3, interval_s=60)
    assert plan.capacity == 144
    assert [(t.name, len(t.pairs)) for t in plan.tiers] == [
        ("index-near", 10),
        ("stock-near", 208),
        ("far", 436),
    ]
    assert plan.cadence("index-near") == 1  # the indices' two nearest expiries, every tick
    assert plan.cadence("stock-near") < plan.cadence("far")
    assert plan.max_period(Pair("NIFTY", FIRST + timedelta(weeks=1))) == 1
    seen = fetch_ticks(plan, plan.full_refresh_ticks)
    assert set(seen) == all_pairs(items)
    assert plan.max_requests_per_tick + plan.spare_per_tick == 180


def test_indices_first_in_each_tick() -> None:
    plan = make_plan(full_universe(), budget=3, interval_s=60)
    first = plan.tick(7)[:10]
    assert {p.symbol for p in first} == set(INDEX_SYMBOLS)


def test_lower_budget_slows_lower_tiers_first() -> None:
    items = full_universe()
    fast, slow = (make_plan(items, budget=b, interval_s=60) for b in (3, 1))
    assert slow.cadence("index-near") == fast.cadence("index-near") == 1
    assert slow.cadence("stock-near") > fast.cadence("stock-near")
    assert slow.cadence("far") > fast.cadence("far")


def test_unmatched_pairs_still_get_planned() -> None:
    policy = (TierRule("nearest", 5, max_rank=0),)
    items = [PlanItem("NIFTY", True, (FIRST, FIRST + timedelta(weeks=1)))]
    plan = make_plan(items, budget=1, interval_s=60, policy=policy)
    assert [t.name for t in plan.tiers] == ["nearest", "other"]
    assert set(plan.pairs) == all_pairs(items)


def test_empty_universe_plans_nothing() -> None:
    plan = make_plan([], budget=3, interval_s=60)
    assert plan.tick(0) == [] and plan.full_refresh_ticks == 0
    assert "0 (symbol, expiry) pairs" in render_plan(plan.summary())


def test_budget_too_small_for_the_tiers_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot serve"):
        make_plan(full_universe(), budget=0.04, interval_s=60)
    with pytest.raises(ConfigError):
        TierRule("bad", 0)


def test_tick_number_is_wall_clock_aligned() -> None:
    t = datetime(2026, 8, 11, 9, 15, tzinfo=IST)
    assert tick_number(t + timedelta(seconds=59), 60) == tick_number(t, 60)
    assert tick_number(t + timedelta(seconds=60), 60) == tick_number(t, 60) + 1


def test_render_plan_table() -> None:
    plan = make_plan(full_universe(), budget=3, interval_s=60)
    text = render_plan(plan.summary())
    assert "3.00 req/s x 1 min ticks = 180 requests/tick; 20% headroom -> at most 144" in text
    assert "213 underlyings, 654 (symbol, expiry) pairs" in text
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["index-near"][1:6] == ["60", "10", "1", "tick", "(1"]
    assert "Full refresh of every pair:" in text


def test_render_plan_shows_shard_and_lowered_budget() -> None:
    items = full_universe()
    mine = select_shard(items, 1, 3)
    plan = make_plan(mine, budget=1.5, interval_s=60)
    text = render_plan(
        plan.summary(shard=Shard(1, 3), universe_symbols=len(items), configured_budget=3.0)
    )
    assert f"Shard 1/3: {len(mine)} of 213 underlyings" in text
    assert "Budget lowered from 3.00 req/s after a rate block" in text
    assert "1.50 req/s x 1 min ticks = 90 requests/tick" in text


# --- AIMD ------------------------------------------------------------------------------------


def test_aimd_halves_on_block_down_to_a_floor() -> None:
    rate = AimdRate(3.0)
    assert rate.current == 3.0 and not rate.reduced
    assert rate.on_block() == 1.5
    assert rate.on_block() == 0.75
    for _ in range(10):
        rate.on_block()
    assert rate.current == pytest.approx(3.0 / 8) and rate.blocks == 12


def test_aimd_recovers_slowly_and_exactly() -> None:
    rate = AimdRate(3.0)
    rate.on_block()
    steps = 0
    while rate.reduced:
        before = rate.current
        rate.on_success_tick()
        assert rate.current - before <= 0.06 + 1e-9
        steps += 1
    assert steps == 25 and rate.current == 3.0
    assert rate.on_success_tick() == 3.0


def test_plan_adapts_to_aimd_rate() -> None:
    items = full_universe()
    rate = AimdRate(3.0)
    normal = make_plan(items, budget=rate.current, interval_s=60)
    rate.on_block()
    blocked = make_plan(items, budget=rate.current, interval_s=60)
    assert blocked.capacity == 72 and blocked.max_requests_per_tick <= 72
    assert blocked.full_refresh_ticks > normal.full_refresh_ticks


# --- sharding --------------------------------------------------------------------------------


def test_shard_of_is_stable_across_processes() -> None:
    # Fixed values: BLAKE2b, not the per-process salted hash().
    assert [shard_of(s, 4) for s in ("NIFTY", "BANKNIFTY", "M&M", "RELIANCE", "TCS")] == [
        3,
        2,
        3,
        3,
        0,
    ]


def test_parse_shard() -> None:
    assert parse_shard("0/3") == Shard(0, 3)
    assert parse_shard(" 2 / 3 ") == Shard(2, 3)
    for bad in ("3/3", "1/0", "a/b", "1"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
