"""The simulated market: universe, calendars, strike grids, prices, IV, OI and volume."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, datetime, timedelta

import pytest

from nsechain.market import INDEX_SYMBOLS
from nsechain.sim.calendar import (
    fo_holidays,
    is_trading_day,
    monthly_expiry,
    nifty_expiries,
    stock_expiries,
)
from nsechain.sim.clock import Snapshot, snapshot_at
from nsechain.sim.market import Market
from nsechain.sim.pricing import bs_price
from nsechain.sim.universe import INDICES, STOCKS, by_symbol
from nsechain.timeutil import IST

DAY = date(2026, 11, 25)


def snap_at(hh: int, mm: int, ss: int = 0, day: date = DAY) -> Snapshot:
    return snapshot_at(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=IST))


def test_universe_has_nse_indices_and_208_stocks() -> None:
    assert tuple(u.symbol for u in INDICES) == INDEX_SYMBOLS
    assert len(STOCKS) == 208 and len({u.symbol for u in STOCKS}) == 208
    for symbol in ("M&M", "GVT&D", "BAJAJ-AUTO", "NAM-INDIA"):
        assert by_symbol(symbol) is not None
    lots = {u.symbol: u.lot for u in INDICES}
    assert lots == {
        "NIFTY": 65,
        "BANKNIFTY": 30,
        "FINNIFTY": 60,
        "MIDCPNIFTY": 120,
        "NIFTYNXT50": 25,
    }
    reliance = by_symbol("RELIANCE")
    assert reliance is not None and reliance.lot == 500
    assert all(u.lot >= 1 and u.price > 0 and u.step > 0 for u in STOCKS)


def test_expiry_calendars_follow_2026_rules() -> None:
    nifty = nifty_expiries(DAY)
    assert len(nifty) == 18 and list(nifty) == sorted(nifty)
    for e in nifty[:5]:  # weekly: a Tuesday, or the trading day before a holiday Tuesday
        tuesday = e + timedelta(days=(1 - e.weekday()) % 7)
        assert e == tuesday or not is_trading_day(tuesday)
    # 24-Nov-2026 (a Tuesday) is a holiday: November's monthly moves to Monday the 23rd.
    assert monthly_expiry(2026, 11) == date(2026, 11, 23)
    assert stock_expiries(date(2026, 11, 20)) == (
        date(2026, 11, 23),
        date(2026, 12, 29),
        date(2027, 1, 25),  # 26-Jan is Republic Day
    )
    assert len(Market(1).expiries("BANKNIFTY", DAY)) == 3
    assert all(is_trading_day(e) for e in nifty)


def test_holidays_include_one_offs_and_muhurat_sunday() -> None:
    days = dict(fo_holidays(2026))
    assert days[date(2026, 1, 15)].startswith("Municipal Corporation Election")
    assert days[date(2026, 11, 8)].endswith("*")
    assert not is_trading_day(date(2026, 11, 24)) and is_trading_day(DAY)


@pytest.mark.parametrize("symbol", ["NIFTY", "BANKNIFTY", "RELIANCE", "M&M", "IDEA", "PAGEIND"])
def test_chain_quotes_are_sane(symbol: str) -> None:
    market = Market(3)
    snap = snap_at(11, 0)
    underlying = by_symbol(symbol)
    assert underlying is not None
    lot = underlying.lot
    for expiry in market.expiries(symbol, DAY)[:3]:
        chain = market.chain(symbol, expiry, snap)
        assert chain is not None and chain.rows
        strikes = [r.strike for r in chain.rows]
        assert strikes == sorted(strikes) and strikes[0] < chain.spot < strikes[-1]
        assert set(strikes) <= set(market.strikes(symbol, DAY))
        for row in chain.rows:
            for leg in (row.ce, row.pe):
                if leg is None:
                    continue
                oi, _, _, vol, iv, last, _, _, tbq, tsq, bid, bq, ask, aq = leg
                assert oi >= 0 and vol >= 0 and iv >= 0
                assert 0 <= bid < ask and (last == 0 or last >= 0.05)
                assert all(q % lot == 0 for q in (tbq, tsq, bq, aq))
                assert (bid == 0) == (bq == 0)


def test_iv_reprices_the_last_price() -> None:
    market = Market(5)
    snap = snap_at(13, 7, 30)
    checked = 0
    for symbol in ("NIFTY", "RELIANCE", "TCS"):
        expiry = market.expiries(symbol, DAY)[0]
        chain = market.chain(symbol, expiry, snap)
        assert chain is not None
        t = datetime(expiry.year, expiry.month, expiry.day, 15, 30, tzinfo=IST) - snap.at
        years = t.total_seconds() / (365 * 86400)
        for row in chain.rows:
            for is_call, leg in ((True, row.ce), (False, row.pe)):
                if leg is None or leg[4] == 0:
                    continue
                iv, last = leg[4] / 100, leg[5]
                model = bs_price(chain.spot, row.strike, years, iv, is_call)
                # IV is shown to 2 decimals (in %): allow that rounding's price effect.
                slack = abs(bs_price(chain.spot, row.strike, years, iv + 0.0001, is_call) - model)
                assert abs(model - last) <= slack + 1e-3 * last + 1e-4, (symbol, row.strike)
                checked += 1
    assert checked > 100


def test_volume_accumulates_and_freezes_at_the_close() -> None:
    market = Market(2)
    expiry = market.expiries("RELIANCE", DAY)[0]
    times = [snap_at(h, m) for h, m in ((9, 15), (10, 0), (12, 30), (15, 29), (15, 30), (18, 0))]
    chains = [market.chain("RELIANCE", expiry, s) for s in times]
    volumes = [[r.ce[3] for r in c.rows if r.ce] for c in chains if c]
    assert sum(volumes[0]) == 0  # nothing has traded at 09:15:00
    for earlier, later in itertools.pairwise(volumes):
        assert all(a <= b for a, b in zip(earlier, later, strict=True))
    assert sum(volumes[-2]) > 0
    assert chains[-1] == chains[-2]  # 18:00 shows the 15:30 close


def test_same_seed_same_market_other_seed_differs() -> None:
    snap = snap_at(10, 1, 2)
    expiry = Market(1).expiries("INFY", DAY)[0]
    one = Market(11).chain("INFY", expiry, snap)
    assert one == Market(11).chain("INFY", expiry, snap)
    assert one != Market(12).chain("INFY", expiry, snap)


def test_order_of_requests_does_not_change_a_snapshot() -> None:
    market = Market(4)
    expiry = market.expiries("SBIN", DAY)[0]
    late, early = snap_at(14, 0), snap_at(9, 30)
    first = market.chain("SBIN", expiry, late)
    market.chain("SBIN", expiry, early)
    assert Market(4).chain("SBIN", expiry, late) == first


def test_unknown_symbol_or_expiry_has_no_chain() -> None:
    market = Market(1)
    snap = snap_at(10, 0)
    assert market.chain("NOPE", DAY, snap) is None
    assert market.chain("NIFTY", date(2026, 11, 26), snap) is None
    assert market.expiries("NOPE", DAY) == ()


def test_spot_moves_within_the_day() -> None:
    market = Market(9)
    spots = {
        market.spot("NIFTY", dataclasses.replace(snap_at(10, 0), elapsed=e))
        for e in range(0, 22500, 900)
    }
    assert len(spots) > 10
