"""One option leg at one snapshot: the per-request maths of the simulated market.

Where it sits: called by ``market.Market.chain`` for every listed contract of a chain; it
turns a contract's per-day constants (``Contract``) and the snapshot's shared values
(``Now``) into the numbers NSE shows for a leg (``Leg``), which ``render.py`` prints.
This is the hot path of every chain response, so it avoids objects and extra hashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nsechain.sim.pricing import implied_vol, mix

__all__ = ["TICK", "Contract", "Leg", "Now", "leg", "tick"]

#: NSE's price tick for options.
TICK = 0.05

#: One leg's numbers, in the order render.py reads them:
#: oi, change_in_oi, pct_change_in_oi, volume, iv, last, change, pct_change,
#: total_buy_qty, total_sell_qty, bid, bid_qty, ask, ask_qty
Leg = tuple[int, int, float, int, float, float, float, float, int, int, float, int, float, int]


@dataclass(frozen=True, slots=True)
class Contract:
    """Per-day constants of one option (what NSE would know at the open)."""

    key: int  #: hash seed for this contract's per-snapshot noise
    strike: float
    is_call: bool
    exists: bool  #: False: NSE serves a zeroed leg with ``identifier: null``
    identifier: str
    oi_prev: int  #: OI at the previous close
    oi_move: int  #: OI change from the previous close to today's close
    oi_wiggle: float  #: amplitude of intraday OI noise
    volume_day: float  #: contracts traded by today's close
    volume_shape: float  #: exponent on the intraday curve: early or late trader
    spread: float  #: relative bid/ask spread
    prev_price: float  #: option close of the previous trading day


def tick(x: float) -> float:
    """``x`` rounded to the nearest tick, and to 2 decimals so it prints like NSE's prices."""
    return round(round(x / TICK) * TICK, 2)


@dataclass(frozen=True, slots=True)
class Now:
    """What every leg of one chain snapshot shares."""

    spot: float
    t: float  #: years to expiry
    curve: float  #: share of the day's volume traded so far
    hump: float  #: sin(pi * tau): intraday OI noise is zero at the open and the close
    phase: float
    at: int  #: snapshot key, seeds the order-book noise
    lot: int


def leg(c: Contract, now: Now, model: float, sigma: float, vega: float) -> Leg:
    """One leg's numbers at one snapshot (see ``Leg`` for the order)."""
    lot = now.lot
    price = tick(max(model, TICK))
    volume = int(c.volume_day * now.curve**c.volume_shape)
    wiggle = c.oi_wiggle * now.hump * math.sin(c.key % 628 / 100 + now.phase)
    oi = max(0, round(c.oi_prev + c.oi_move * now.curve + wiggle))
    d_oi = oi - c.oi_prev
    pd_oi = d_oi / c.oi_prev * 100 if c.oi_prev else 0.0
    last = price if volume else 0.0
    change = round(last - c.prev_price, 2) if last and c.prev_price else 0.0
    pchange = change / c.prev_price * 100 if change else 0.0
    iv = _iv(c, now, last, model, sigma, vega)
    # One hash gives four 16-bit uniforms; two give the order book's six draws.
    h = mix(c.key, now.at)
    g = mix(h, 1)
    half = max(TICK, price * c.spread / 2)
    bid = max(0.0, tick(price - half * (0.5 + (h & 0xFFFF) / 65536)))
    ask = tick(price + half * (0.5 + (h >> 16 & 0xFFFF) / 65536))
    depth = 2 + int(18 / (1 + 20 * c.spread))
    bid_qty = lot * (1 + (h >> 32 & 0xFFFF) * depth // 65536) if bid else 0
    ask_qty = lot * (1 + (h >> 48) * depth // 65536)
    book = (oi + volume * 0.05) * 0.8 + 5
    total_buy = lot * max(1, int(book * (0.3 + 1.2 * (g & 0xFFFF) / 65536))) if bid else 0
    total_sell = lot * max(1, int(book * (0.3 + 1.2 * (g >> 16 & 0xFFFF) / 65536)))
    return (
        oi, d_oi, pd_oi, volume, iv, last, change, pchange,
        total_buy, total_sell, bid, bid_qty, ask, ask_qty,
    )  # fmt: skip


def _iv(c: Contract, now: Now, last: float, model: float, sigma: float, vega: float) -> float:
    # NSE shows IV 0 for untraded contracts and where the price holds (almost) no time
    # value; elsewhere the IV is the one that reprices ``last`` (the model price rounded to
    # the tick), to 2 decimals in percent.
    if not last:
        return 0.0
    intrinsic = max(0.0, now.spot - c.strike) if c.is_call else max(0.0, c.strike - now.spot)
    if last - intrinsic < 0.01 * last:
        return 0.0
    diff = last - model
    if abs(diff) < 0.05 * model and vega > 1e-9:
        sigma += diff / vega  # one Newton step: rounding moved the price only a little
    else:
        sigma = implied_vol(last, now.spot, c.strike, now.t, c.is_call, sigma)
    return round(sigma * 100, 2)
