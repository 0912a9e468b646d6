"""Shards split (symbol, expiry) pairs: over NSE's real universe every pair is in exactly one
shard, deterministically, in the tier it has unsharded; the indices' expiries are spread.

The universe is NSE's list (underlying_information_2026-07-24.json), NIFTY's 18 expiries are
its real contract-info answer (getOptionChainDropdown, Jul 2026), every other symbol gets the
expiries NSE's rules predict for that day.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest

from conftest import fixture_bytes
from nsechain.market import INDEX_SYMBOLS
from nsechain.market.expiries import predict_expiries
from nsechain.market.plan import Pair, Plan, PlanItem, make_plan
from nsechain.market.shard import Shard, pair_owner, shard_of
from nsechain.market.universe import Universe
from nsechain.nse.parse import parse_expiries, parse_universe
from nsechain.timeutil import IST

NOW = datetime(2026, 7, 13, 9, 0, tzinfo=IST)


@pytest.fixture(scope="module")
def universe() -> Universe:
    listed = parse_universe(fixture_bytes("underlying_information_2026-07-24.json"))
    u = Universe.of(listed, as_of=NOW.date())
    nifty = parse_expiries(
        fixture_bytes("nextapi_getOptionChainDropdown_NIFTY_2026-07.json"), symbol="NIFTY"
    )
    u = u.with_expiries("NIFTY", nifty, NOW)
    for symbol in u.symbols[1:]:
        u = u.with_expiries(symbol, predict_expiries(symbol, NOW), NOW)
    return u


def _plan(items: tuple[PlanItem, ...], shard: Shard | None = None) -> Plan:
    return make_plan(items, budget=3, interval_s=60, shard=shard)


def _tiers(plan: Plan) -> dict[Pair, str]:
    return {p: t.name for t in plan.tiers for p in t.pairs}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8])
def test_every_pair_of_the_real_universe_is_in_exactly_one_shard(
    universe: Universe, count: int
) -> None:
    whole = _tiers(_plan(universe.plan_items()))
    assert len(universe.expiries["NIFTY"]) == 18 and len(whole) > 640
    owners: dict[Pair, list[int]] = defaultdict(list)
    for i in range(count):
        shard = Shard(i, count)
        mine = _tiers(_plan(universe.shard(shard).plan_items(), shard))
        for pair, tier in mine.items():
            owners[pair].append(i)
            assert tier == whole[pair], pair  # ranked as unsharded: the near tier stays near
    assert owners.keys() == whole.keys()
    assert all(len(v) == 1 for v in owners.values())


def test_index_expiries_are_split_and_stocks_are_not(universe: Universe) -> None:
    count = 4
    shards = [Shard(i, count) for i in range(count)]
    plans = [_plan(universe.shard(s).plan_items(), s) for s in shards]
    nifty = [sum(p.symbol == "NIFTY" for p in plan.pairs) for plan in plans]
    assert sum(nifty) == 18 and min(nifty) >= 1 and max(nifty) <= 9  # not 18 in one shard
    near = [len(next(t for t in plan.tiers if t.name == "index-near").pairs) for plan in plans]
    assert sum(near) == 10 and max(near) <= 4
    for symbol in INDEX_SYMBOLS:  # the two nearest expiries, fetched every tick, never together
        first, second = universe.expiries[symbol][:2]
        assert pair_owner(symbol, True, first, count) != pair_owner(symbol, True, second, count)
    for plan, shard in zip(plans, shards, strict=True):
        stocks = {p.symbol for p in plan.pairs if p.symbol not in INDEX_SYMBOLS}
        assert all(shard_of(s, count) == shard.index for s in stocks)
    # contract-info: every shard asks for the 5 indices, each stock once in all
    needed = [len(universe.shard(s)) for s in shards]
    assert sum(needed) == len(universe) + (count - 1) * len(INDEX_SYMBOLS)
    print("pairs per shard:", [len(p.pairs) for p in plans], "NIFTY:", nifty, "index-near:", near)


def test_pair_owner_is_the_same_in_another_process() -> None:
    """No salted hash: a fresh interpreter (another machine, a restart) agrees."""
    code = (
        "from datetime import date; from nsechain.market.shard import pair_owner;"
        "print([pair_owner(s, i, date(2026, 8, d), 4) for s, i in"
        " (('NIFTY', True), ('BANKNIFTY', True), ('M&M', False)) for d in (11, 18, 25)])"
    )
    here = [
        pair_owner(s, i, date(2026, 8, d), 4)
        for s, i in (("NIFTY", True), ("BANKNIFTY", True), ("M&M", False))
        for d in (11, 18, 25)
    ]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(here)
    assert Counter(here[:3]) == Counter(set(here[:3]))  # NIFTY's three weeklies: three shards
