"""A synthetic trading day that changes the way NSE's chains change, for byte counts.

Where it sits: imported by ``bench_lake`` (bytes per row, and the rows of every other figure
there); nothing in ``src`` uses it. ``bench_analytics.make_chunk`` prices every contract afresh
each minute, so every column of every row moves every minute: right for query timings, far
from a real session for compression, where most contracts do not trade in a given minute and
their fields stand still. This generator keeps ``bench_analytics``' market (5 indices, NIFTY
with 18 expiries, 205 stocks with 3) and Black-76 prices, and adds what the real captures in
``../shared/fixtures/nse`` show:

- **Most contracts trade rarely.** In the full chains captured at the close (NIFTY,
  BANKNIFTY, FINNIFTY, MIDCPNIFTY, NIFTYNXT50, RELIANCE) 35-97 % of legs had traded nothing
  all day; such legs carry ``iv`` 0 and ``change`` 0. Here a leg's chance of trading in a
  minute falls with distance from the money, with expiry, and from index to stock, tuned so
  that about half of all legs end the day with volume 0.
- **A leg's price, volume, OI, IV and changes move only when it trades**; its best bid and
  ask (and their quantities, and the book totals) also move between trades, more often than
  it trades; ~10 % of legs have no bid at all.
- **NSE's percentages are full doubles** (``pchangeinOpenInterest`` 15.184964200477326,
  ``pChange`` -29.578574241827493), not rounded: they are stored as such.
- **``identifier``** is NSE's leg name (``OPTIDXNIFTY11-08-2026CE24100.00``), and
  **``fetched_at``** lags ``exchange_ts`` by a different 0.3-2.5 s on every fetch.

Anything it leaves out makes a real day differ from this one; the bench prints the old
every-row-moves day beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from bench_analytics import OPEN, US, Market, build_market
from nsechain.analytics.black76 import black76_price
from nsechain.contract import QUOTES_SCHEMA

__all__ = ["realistic_day"]


def _identifiers(m: Market) -> pa.Array:
    """NSE's leg names, one per contract."""
    sym = np.array(m.symbols, dtype=object)[m.sym_id]
    kind = np.where(m.sym_id < 5, "OPTIDX", "OPTSTK")
    days = m.expiry_days.astype("datetime64[D]").astype(datetime)
    expiry = np.array([d.strftime("%d-%m-%Y") for d in days], dtype=object)
    side = np.where(m.is_call, "CE", "PE")
    return pa.array(
        [
            f"{a}{b}{c}{d}{e:.2f}"
            for a, b, c, d, e in zip(kind, sym, expiry, side, m.strike, strict=True)
        ],
        pa.string(),
    )


def _trade_odds(m: Market) -> np.ndarray:
    """Per contract: the chance of a trade in any one minute (tuned to the captures' share
    of untraded legs: NIFTY ~45 %, the other indices 30-80 %, stocks ~45 %)."""
    group_sym = m.sym_id[m.group_start]  # groups run by symbol, then by expiry
    rank = np.arange(len(group_sym)) - np.searchsorted(group_sym, group_sym)  # 0 = nearest
    first = np.repeat(m.group_start, m.group_size)
    half = np.repeat(m.group_size // 2, m.group_size)
    wing = (np.arange(len(m.strike)) - first) // 2 / half * 2 - 1  # -1 .. 1 across the chain
    index = m.sym_id < 5
    base = np.where(m.sym_id < 2, 0.9, np.where(index, 0.15, 0.2))
    decay = np.where(index, 0.75, 0.3) ** np.repeat(rank, m.group_size)
    return base * np.exp(-12 * wing * wing) * decay


def realistic_day(minutes: int, stocks: int, seed: int = 7) -> Iterator[tuple[datetime, pa.Table]]:
    """Yields (minute's fetch time, that minute's quote rows), one full-market tick a minute."""
    m = build_market(stocks)
    rng = np.random.default_rng(seed)
    n = len(m.strike)
    spots = m.spot0[:, None] * np.exp(
        np.cumsum(rng.normal(0, 0.0006, (len(m.symbols), minutes)), axis=1)
    )
    identifier = _identifiers(m)
    p_trade = _trade_odds(m)
    p_quote = np.minimum(1.0, 4 * p_trade + 0.25)
    quoted = rng.random(n) > 0.1
    close_s = m.expiry_days * 86_400 + 36_000
    k, call = m.strike, m.is_call
    oi_prev = np.round(1e5 * np.exp(-30 * np.log(k / m.spot0[m.sym_id]) ** 2) / 50) * 50 + 50
    prev_close = np.zeros(n)
    ltp, iv, volume, oi = np.zeros(n), np.zeros(n), np.zeros(n, np.int64), oi_prev.copy()
    bid, ask = np.zeros(n), np.zeros(n)
    bid_qty, ask_qty = np.zeros(n, np.int64), np.zeros(n, np.int64)
    buy_tot, sell_tot = np.zeros(n, np.int64), np.zeros(n, np.int64)
    group_of = np.repeat(np.arange(len(m.group_size)), m.group_size)
    for minute in range(minutes):
        spot = spots[m.sym_id, minute]
        ts_s = OPEN.timestamp() + minute * 60 + group_of % 50
        t = np.maximum(close_s - ts_s, 60.0) / (365 * 86_400)
        x = np.log(k / spot)
        sigma = 0.14 + 0.8 * x * x + np.where(x < 0, -0.25 * x, 0.0)
        fair = np.maximum(np.round(black76_price(spot, k, t, sigma, 0.065, call) * 20) / 20, 0.05)
        if minute == 0:
            prev_close = np.maximum(np.round(fair * rng.uniform(0.7, 1.3, n) * 20) / 20, 0.05)
        traded = rng.random(n) < p_trade
        lots = rng.geometric(0.3, n) * 75
        ltp = np.where(traded, fair, ltp)
        iv = np.where(traded, np.round(sigma * 100, 2), iv)
        volume = volume + np.where(traded, lots, 0)
        oi = oi + np.where(traded, rng.choice([-1, 0, 1], n) * lots, 0)
        moved = quoted & (traded | (rng.random(n) < p_quote))
        tick = np.maximum(np.round(fair * 0.004 * 20) / 20, 0.05)
        bid = np.where(moved, np.maximum(fair - tick, 0.05), bid)
        ask = np.where(moved, fair + tick, ask)
        bid_qty = np.where(moved, rng.geometric(0.2, n) * 75, bid_qty)
        ask_qty = np.where(moved, rng.geometric(0.2, n) * 75, ask_qty)
        buy_tot = np.where(moved, bid_qty * rng.integers(5, 200, n), buy_tot)
        sell_tot = np.where(moved, ask_qty * rng.integers(5, 200, n), sell_tot)
        ever = volume > 0
        change = np.where(ever, np.round((ltp - prev_close) * 100) / 100, 0.0)
        change_oi = oi - oi_prev
        exchange_us = ts_s.astype(np.int64) * US
        lag_us = rng.integers(300_000, 2_500_000, len(m.group_size))[group_of]
        cols = {
            "exchange_ts": exchange_us,
            "fetched_at": exchange_us + lag_us,
            "symbol": pa.DictionaryArray.from_arrays(m.sym_id.astype(np.int32), m.symbols),
            "expiry": pa.array(m.expiry_days.astype(np.int32), pa.date32()),
            "strike": k,
            "option_type": pa.DictionaryArray.from_arrays(
                np.where(call, 0, 1).astype(np.int32), ["CE", "PE"]
            ),
            "open_interest": oi,
            "change_in_oi": change_oi,
            "pct_change_in_oi": change_oi / oi_prev * 100,  # NSE's full double
            "volume": volume,
            "iv": np.where(ever, iv, 0.0),
            "last_price": np.where(ever, ltp, prev_close),
            "change": change,
            "pct_change": np.where(ever, change / prev_close * 100, 0.0),
            "total_buy_qty": buy_tot,
            "total_sell_qty": sell_tot,
            "bid_price": bid,
            "bid_qty": bid_qty,
            "ask_price": ask,
            "ask_qty": ask_qty,
            "underlying_value": np.round(spot, 2),
            "identifier": identifier,
        }
        arrays = [pa.array(cols[f.name]).cast(f.type) for f in QUOTES_SCHEMA]
        yield OPEN + timedelta(minutes=minute, seconds=55), pa.table(arrays, schema=QUOTES_SCHEMA)
