"""Achieved freshness per tier and achieved rate (collector/freshness.py): counts on given
clock values, never timed."""

from __future__ import annotations

from datetime import date

from nsechain.collector.freshness import Freshness, RateMeter
from nsechain.market.plan import Pair

A, B, C = (Pair("NIFTY", date(2026, 12, 1)), Pair("NIFTY", date(2026, 12, 8)),
           Pair("TCS", date(2026, 12, 29)))  # fmt: skip


def _tiers(report: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {t["tier"]: t for t in report}


def test_gaps_per_tier_against_the_promise_with_the_open_gap_counted() -> None:
    f = Freshness()
    f.follow({A: ("index-near", 60.0), B: ("index-near", 60.0), C: ("far", 600.0)}, now=0.0)
    for at in (10.0, 70.0, 140.0):  # gaps 60, 70
        f.snapshot(A, at)
    for at in (20.0, 80.0):  # gap 60
        f.snapshot(B, at)
    tiers = _tiers(f.report(now=150.0))
    near = tiers["index-near"]
    assert near["promise_s"] == 60.0 and near["pairs"] == 2 and near["pairs_fetched"] == 2
    assert near["gaps"] == 3 and near["median_gap_s"] == 60.0
    assert near["max_gap_s"] == 70.0  # B's open gap (150 - 80) ties the worst closed one
    far = tiers["far"]
    assert far["pairs_fetched"] == 0 and far["median_gap_s"] is None
    assert far["max_gap_s"] == 150.0 and far["max_over_promise"] == 0.25  # never fetched yet
    # Later, B's open gap is the worst: a starved pair shows before it is fetched again.
    assert _tiers(f.report(now=260.0))["index-near"]["max_gap_s"] == 180.0


def test_a_new_session_starts_afresh_and_a_pair_leaving_the_plan_is_forgotten() -> None:
    f = Freshness()
    f.follow({A: ("index-near", 60.0), C: ("far", 600.0)}, now=0.0)
    f.snapshot(A, 10.0)
    f.snapshot(A, 70.0)
    f.restart(now=86_400.0)  # the next morning: the night is no gap
    f.snapshot(A, 86_410.0)
    near = _tiers(f.report(now=86_420.0))["index-near"]
    assert near["gaps"] == 0 and near["max_gap_s"] == 10.0
    f.follow({A: ("index-near", 60.0)}, now=86_430.0)
    assert [t["tier"] for t in f.report(now=86_440.0)] == ["index-near"]


def test_achieved_rate_over_the_window_against_the_budget() -> None:
    meter = RateMeter(window_s=60.0)
    first = meter.report(0.0, 0, budget=3.0, effective=3.0)
    assert first["achieved_rps"] is None
    assert meter.report(30.0, 90, budget=3.0, effective=3.0)["achieved_over_budget"] == 1.0
    later = meter.report(90.0, 240, budget=3.0, effective=1.5)  # 150 in the last 60 s
    assert later["achieved_rps"] == 2.5 and later["rate_window_s"] == 60.0
    assert later["effective_budget_rps"] == 1.5


def test_status_shows_each_tier_against_its_promise_and_the_rate_against_the_budget() -> None:
    from rich.console import Console

    from nsechain.collector.view import _schedule

    tier = {
        "tier": "index-near", "promise_s": 60.0, "pairs": 10, "pairs_fetched": 9,
        "gaps": 40, "median_gap_s": 58.0, "max_gap_s": 71.0, "max_over_promise": 1.18,
    }  # fmt: skip
    schedule = {
        "budget_rps": 3.0, "effective_budget_rps": 3.0, "achieved_rps": 2.91,
        "achieved_over_budget": 0.97, "rate_window_s": 60.0, "tiers": [tier],
    }  # fmt: skip
    table = _schedule({"collection_thread": {"schedule": schedule}})
    console = Console(width=120, record=True)
    console.print(table)
    text = console.export_text()
    assert "achieved 2.91 of 3 req/s (97% of the budget, last 60 s)" in text
    assert "index-near" in text and "every 60s" in text and "9/10" in text and "1.18x" in text
    assert _schedule({"collection_thread": {}}) is None  # an older status.json: no table
