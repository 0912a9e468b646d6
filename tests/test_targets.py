"""Targets: the selected universe, expiry refreshes, the plan within budget, AIMD re-planning."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from nsechain.collector.targets import Targets
from nsechain.config import Settings, load_settings
from nsechain.market import INDEX_SYMBOLS
from nsechain.nse.parse import Underlying
from nsechain.timeutil import IST

MON = datetime(2026, 8, 10, 10, 0, tzinfo=IST)
EXPIRIES = [date(2026, 8, 11), date(2026, 8, 18), date(2026, 8, 25)]


def settings(tmp_path: Path, **kw: object) -> Settings:
    return load_settings(data_dir=tmp_path / "data", **kw)


def test_explicit_symbols_are_selected_and_planned_nearest_first(tmp_path: Path) -> None:
    t = Targets(settings(tmp_path, symbols="NIFTY,M&M", expiries_per_symbol=2))
    assert t.symbols == ("NIFTY", "M&M")  # indices first
    assert t.expiries_due(MON) == ["NIFTY", "M&M"]
    t.set_expiries("NIFTY", list(reversed(EXPIRIES)), MON)
    assert t.expiries_due(MON) == ["M&M"]
    assert t.plan(MON) == [("NIFTY", date(2026, 8, 11)), ("NIFTY", date(2026, 8, 18))]


def test_an_expiry_lives_until_the_close_of_its_day(tmp_path: Path) -> None:
    t = Targets(settings(tmp_path, symbols="NIFTY", expiries_per_symbol=1))
    t.set_expiries("NIFTY", EXPIRIES, MON)
    assert t.plan(datetime(2026, 8, 11, 15, 30, tzinfo=IST)) == [("NIFTY", date(2026, 8, 11))]
    after = datetime(2026, 8, 11, 15, 31, tzinfo=IST)
    assert t.expiries_due(after) == ["NIFTY"]  # the nearest passed: ask NSE again
    assert t.plan(after) == [("NIFTY", date(2026, 8, 18))]


def test_all_with_exclusions_and_the_universe_cache(tmp_path: Path) -> None:
    s = settings(tmp_path, symbols="ALL", exclude_symbols="RELIANCE")
    t = Targets(s)
    assert len(t.symbols) > 200 and "RELIANCE" not in t.symbols  # the bundled list
    assert t.universe_due(MON)
    t.set_universe([Underlying("NIFTY", "Nifty 50", True), Underlying("M&M", "M&M", False)], MON)
    t.set_expiries("NIFTY", EXPIRIES, MON)
    t.save_cache()
    again = Targets(s)  # a restart reads the cache: no universe or expiry calls needed today
    assert again.symbols == ("NIFTY", "M&M")
    assert "NIFTY" not in again.expiries_due(MON)


def test_the_cache_keeps_nse_whole_list_for_another_share_or_selection(tmp_path: Path) -> None:
    """A shard (or a --symbols run) caches NSE's whole list, so a restart with another share
    or other symbols still knows them all (preflight refused them before: found by the
    sharded lake test); expiries are cached for the symbols followed."""
    from nsechain.collector.preflight import validate_startup

    listed = [Underlying("NIFTY", "Nifty 50", True)]
    listed += [Underlying(f"S{i:02d}", f"S{i:02d}", False) for i in range(12)]
    first = Targets(settings(tmp_path, symbols="ALL", shard="0/3"))
    first.set_universe(listed, MON)
    first.set_expiries("NIFTY", EXPIRIES, MON)
    first.save_cache()
    assert len(first.symbols) < len(listed)
    shares = [
        set(Targets(settings(tmp_path, symbols="ALL", shard=f"{i}/3")).symbols) for i in (1, 2)
    ]
    assert set().union(first.symbols, *shares) == {u.symbol for u in listed}
    other = settings(tmp_path, symbols=",".join(u.symbol for u in listed[1:]))
    validate_startup(other)  # no "not in NSE's F&O list"
    again = Targets(settings(tmp_path, symbols="ALL", shard="0/3"))
    assert "NIFTY" not in again.expiries_due(MON)


def test_a_block_halves_the_budget_and_the_plan_shrinks(tmp_path: Path) -> None:
    t = Targets(settings(tmp_path, symbols="ALL", rate=3.0))
    for sym in t.symbols:
        t.set_expiries(sym, EXPIRIES, MON)
    full = t.plan_now.max_requests_per_tick
    assert full <= 3.0 * 60 * 0.8
    assert t.on_block() == pytest.approx(1.5)
    assert t.plan_now.max_requests_per_tick <= 1.5 * 60 * 0.8 < full
    for _ in range(100):
        t.on_clean_tick()
    assert t.rate.current == 3.0 and t.plan_now.max_requests_per_tick == full


def test_shard_takes_a_share(tmp_path: Path) -> None:
    shares = [
        set(Targets(settings(tmp_path, symbols="ALL", shard=f"{i}/3")).symbols) for i in range(3)
    ]
    everything = set(Targets(settings(tmp_path, symbols="ALL")).symbols)
    assert set().union(*shares) == everything
    # the indices are in every share (their expiries are split), each stock in one
    assert sum(len(s) for s in shares) == len(everything) + 2 * len(INDEX_SYMBOLS)
