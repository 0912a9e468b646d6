"""The interim plan: nearest N live expiries per symbol, and when expiries are refreshed."""

from __future__ import annotations

from datetime import date, datetime

from nsechain.collector.targets import Targets
from nsechain.config import INDEX_SYMBOLS, load_settings
from nsechain.nse.parse import Underlying
from nsechain.timeutil import IST

MON = datetime(2026, 8, 10, 10, 0, tzinfo=IST)
EXPIRIES = [date(2026, 8, 11), date(2026, 8, 18), date(2026, 8, 25)]


def test_plan_takes_the_nearest_live_expiries() -> None:
    t = Targets(load_settings(symbols="NIFTY,M&M", expiries_per_symbol=2))
    assert t.expiries_due(MON) == ["NIFTY", "M&M"]
    t.set_expiries("NIFTY", list(reversed(EXPIRIES)), MON)
    assert t.expiries_due(MON) == ["M&M"]
    assert t.plan(MON) == [("NIFTY", date(2026, 8, 11)), ("NIFTY", date(2026, 8, 18))]


def test_an_expiry_lives_until_the_close_of_its_day() -> None:
    t = Targets(load_settings(symbols="NIFTY", expiries_per_symbol=1))
    t.set_expiries("NIFTY", EXPIRIES, MON)
    tue_close = datetime(2026, 8, 11, 15, 30, tzinfo=IST)
    assert t.plan(tue_close) == [("NIFTY", date(2026, 8, 11))]
    after = datetime(2026, 8, 11, 15, 31, tzinfo=IST)
    assert t.plan(after) == [("NIFTY", date(2026, 8, 18))]
    assert t.expiries_due(after) == ["NIFTY"]  # nearest passed: ask NSE again


def test_refresh_daily_after_empty_and_backoff_after_failure() -> None:
    t = Targets(load_settings(symbols="NIFTY"))
    t.set_expiries("NIFTY", EXPIRIES, MON)
    assert t.expiries_due(MON) == []
    assert t.expiries_due(MON.replace(day=11, hour=9)) == ["NIFTY"]  # a new day
    t.mark_stale_expiries("NIFTY")
    assert t.expiries_due(MON) == ["NIFTY"]
    t.expiries_failed("NIFTY", MON)
    assert t.expiries_due(MON) == []
    assert t.expiries_due(MON.replace(minute=5)) == ["NIFTY"]


def test_all_symbols_come_from_the_universe_with_indices_as_fallback() -> None:
    t = Targets(load_settings(symbols="ALL"))
    assert t.universe_due(MON)
    t.universe_failed(MON)
    assert t.symbols == list(INDEX_SYMBOLS)
    t.set_universe(
        [Underlying("NIFTY", "Nifty 50", True), Underlying("M&M", "M&M Ltd", False)], MON
    )
    assert t.symbols == ["NIFTY", "M&M"]
    assert not t.universe_due(MON)
