"""The F&O universe: NSE's underlying list, selection, expiry bookkeeping, cache, fallback."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest

from conftest import fixture_bytes
from nsechain.errors import BadPayload
from nsechain.market import INDEX_SYMBOLS
from nsechain.market.shard import Shard
from nsechain.market.universe import (
    EMPTY_REFRESH_GAP,
    REFRESH_RETRY,
    Listing,
    Selection,
    Universe,
    is_live,
    load_universe_cache,
    save_universe_cache,
    universe_from_json,
)
from nsechain.timeutil import IST


class Underlying(NamedTuple):
    """Stand-in for the parser's ``Underlying`` (same three fields)."""

    symbol: str
    name: str
    is_index: bool


def parse_underlying_information(body: bytes) -> list[Underlying]:
    data = orjson.loads(body)["data"]
    return [Underlying(x["symbol"], x["underlying"], True) for x in data["IndexList"]] + [
        Underlying(x["symbol"], x["underlying"], False) for x in data["UnderlyingList"]
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


@pytest.fixture
def universe() -> Universe:
    items = parse_underlying_information(fixture_bytes("underlying_information_2026-07-24.json"))
    return Universe.of(items, as_of=date(2026, 7, 24))


def test_universe_from_nse_list(universe: Universe) -> None:
    assert len(universe) == 215
    assert universe.symbols[:5] == INDEX_SYMBOLS
    stocks = universe.symbols[5:]
    assert list(stocks) == sorted(stocks)
    for symbol in ("M&M", "GVT&D", "BAJAJ-AUTO", "NAM-INDIA"):
        listing = universe.get(symbol)
        assert listing is not None and not listing.is_index
    nifty = universe.get("NIFTY")
    assert nifty == Listing("NIFTY", "Nifty 50", True)


def test_bundled_fallback_is_the_same_list(universe: Universe) -> None:
    bundled = Universe.bundled()
    assert bundled.listings == universe.listings
    assert bundled.source == "bundled" and bundled.as_of == date(2026, 7, 24)


def test_selection_kinds(universe: Universe) -> None:
    assert universe.select(Selection(kind="indices")).symbols == INDEX_SYMBOLS
    stocks = universe.select(Selection(kind="stocks"))
    assert len(stocks) == 210 and not any(x.is_index for x in stocks.listings)
    assert len(universe.select(Selection())) == 215


def test_selection_include_and_exclude(universe: Universe) -> None:
    chosen = universe.select(Selection.of(["nifty", "M&M", "RELIANCE"], exclude=["reliance"]))
    assert chosen.symbols == ("NIFTY", "M&M")
    everything_but = universe.select(Selection.of(["ALL"], exclude=["NIFTY", "TCS"]))
    assert len(everything_but) == 213 and "NIFTY" not in everything_but.symbols
    stocks_only = universe.select(Selection.of(["NIFTY", "TCS"], kind="stocks"))
    assert stocks_only.symbols == ("TCS",)


def test_included_symbol_missing_from_list_is_kept_and_reported(universe: Universe) -> None:
    selection = Selection.of(["NIFTY", "NEWCO"], exclude=["OLDCO"])
    assert universe.unknown(selection) == ["NEWCO", "OLDCO"]
    chosen = universe.select(selection)
    assert chosen.symbols == ("NIFTY", "NEWCO")
    newco = chosen.get("NEWCO")
    assert newco is not None and not newco.is_index


def test_expiry_live_until_1530_ist_on_its_date() -> None:
    expiry = date(2026, 8, 11)
    assert is_live(expiry, at("2026-08-11 15:30"))
    assert not is_live(expiry, at("2026-08-11 15:30:01"))
    assert is_live(expiry, datetime.fromisoformat("2026-08-11T09:59:00+00:00"))  # 15:29 IST


def test_with_expiries_keeps_live_sorted_unique() -> None:
    u = Universe.of([Underlying("NIFTY", "Nifty 50", True)])
    now = at("2026-08-11 16:00")
    expiries = [date(2026, 8, 25), date(2026, 8, 11), date(2026, 8, 18), date(2026, 8, 18)]
    u = u.with_expiries("NIFTY", expiries, now)
    assert u.expiries["NIFTY"] == (date(2026, 8, 18), date(2026, 8, 25))


def test_expiries_due_missing_daily_and_after_failure() -> None:
    u = Universe.of([Underlying("NIFTY", "Nifty 50", True), Underlying("TCS", "TCS", False)])
    morning = at("2026-08-11 09:00")
    assert u.expiries_due(morning) == ["NIFTY", "TCS"]
    u = u.with_expiries("NIFTY", [date(2026, 8, 18)], morning)
    u = u.expiries_failed("TCS", morning)
    assert u.expiries_due(morning + timedelta(minutes=1)) == []
    assert u.expiries_due(morning + REFRESH_RETRY) == ["TCS"]
    # Next IST day: refresh again even though the list is still live.
    assert u.expiries_due(at("2026-08-12 08:55")) == ["NIFTY", "TCS"]


def test_empty_fetch_flags_a_refresh_but_not_every_tick() -> None:
    u = Universe.of([Underlying("NIFTY", "Nifty 50", True)])
    t0 = at("2026-08-11 09:15")
    u = u.with_expiries("NIFTY", [date(2026, 8, 18)], t0)
    u = u.mark_empty("NIFTY")
    assert u.expiries_due(t0 + timedelta(minutes=1)) == []
    later = t0 + EMPTY_REFRESH_GAP
    assert u.expiries_due(later) == ["NIFTY"]
    u = u.with_expiries("NIFTY", [date(2026, 8, 18)], later)
    assert "NIFTY" not in u.flagged and u.expiries_due(later) == []


def test_drop_passed_removes_expiry_after_cutoff_and_asks_for_refresh() -> None:
    u = Universe.of([Underlying("NIFTY", "Nifty 50", True), Underlying("TCS", "TCS", False)])
    t0 = at("2026-08-11 09:00")
    u = u.with_expiries("NIFTY", [date(2026, 8, 11), date(2026, 8, 18)], t0)
    u = u.with_expiries("TCS", [date(2026, 8, 25)], t0)
    assert u.drop_passed(at("2026-08-11 15:30")) is u
    after = u.drop_passed(at("2026-08-11 15:31"))
    assert after.expiries["NIFTY"] == (date(2026, 8, 18),)
    assert after.expiries_due(at("2026-08-11 15:31")) == ["NIFTY"]


def test_plan_items_skip_symbols_without_expiries_and_limit_count() -> None:
    u = Universe.of([Underlying("NIFTY", "Nifty 50", True), Underlying("TCS", "TCS", False)])
    now = at("2026-08-11 09:00")
    u = u.with_expiries("NIFTY", [date(2026, 8, 11) + timedelta(weeks=i) for i in range(5)], now)
    items = u.plan_items(max_expiries=2)
    assert [(i.symbol, i.is_index, len(i.expiries)) for i in items] == [("NIFTY", True, 2)]
    assert len(u.plan_items()[0].expiries) == 5


def test_replace_listings_keeps_known_expiries(universe: Universe) -> None:
    now = at("2026-08-11 09:00")
    u = universe.with_expiries("TCS", [date(2026, 8, 25)], now)
    u = u.with_expiries("NIFTY", [date(2026, 8, 18)], now)
    fresh = Universe.of([Underlying("NIFTY", "Nifty 50", True)], as_of=date(2026, 8, 11))
    replaced = u.replace_listings(fresh)
    assert replaced.symbols == ("NIFTY",)
    assert dict(replaced.expiries) == {"NIFTY": (date(2026, 8, 18),)}
    assert replaced.as_of == date(2026, 8, 11)


def test_universe_due_daily_and_retry(universe: Universe) -> None:
    assert not universe.universe_due(at("2026-07-24 08:00"))
    assert universe.universe_due(at("2026-07-25 08:00"))
    failed = universe.universe_failed(at("2026-07-25 08:00"))
    assert not failed.universe_due(at("2026-07-25 08:01"))
    assert failed.universe_due(at("2026-07-25 08:00") + REFRESH_RETRY)
    assert Universe.bundled().universe_due(at("2026-07-24 08:00"))


def test_shards_split_the_universe(universe: Universe) -> None:
    """Stocks go to one shard each; every shard keeps the indices, whose expiries it splits."""
    parts = [universe.shard(Shard(i, 3)) for i in range(3)]
    stocks = [s for p in parts for s in p.symbols if s not in INDEX_SYMBOLS]
    assert sorted(stocks) == sorted(set(universe.symbols) - set(INDEX_SYMBOLS))
    assert all(p.symbols[:5] == INDEX_SYMBOLS and len(p) > 5 for p in parts)


def test_cache_round_trip(tmp_path: Path, universe: Universe) -> None:
    assert load_universe_cache(tmp_path) is None
    now = at("2026-08-11 09:00")
    u = universe.with_expiries("M&M", [date(2026, 8, 25), date(2026, 9, 29)], now)
    save_universe_cache(tmp_path, u)
    cached = load_universe_cache(tmp_path)
    assert cached is not None and cached.source == "cache"
    assert cached.listings == u.listings and cached.expiries == u.expiries
    assert cached.refreshed_at == {"M&M": now}
    assert not cached.universe_due(at("2026-07-24 12:00"))


def test_damaged_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "universe.json").write_bytes(b"{not json")
    assert load_universe_cache(tmp_path) is None
    with pytest.raises(BadPayload, match="universe cache"):
        universe_from_json(b'{"format": 99}')
