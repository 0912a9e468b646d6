"""The trader's desk, pure part: window OI change, GEX, straddle VWAP, IV rank, steady PCR.

Where it sits: ``analytics/trader.py`` reads rows with the Desk's SQL and hands Arrow tables
or numpy arrays to these functions; nothing here touches DuckDB, the clock or the disk, so
every number is checked by hand in ``tests/test_trader.py``.

Conventions: OI in contracts (lots), prices in rupees per share, IVs in percent. Wide tables
have one row per strike, CE columns prefixed ``ce_`` and PE columns ``pe_``, ascending strike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from nsechain.analytics.sql import WIDE_COLUMNS

__all__ = [
    "GEX_SIGN",
    "IvRank",
    "gex_by_strike",
    "iv_rank",
    "lot_size",
    "pivot_sides",
    "steady_pcr",
    "straddle_vwap",
    "surface_table",
    "wide_chain",
    "window_delta",
]

FloatArray = npt.NDArray[np.float64]

#: GEX sign convention (stated on the page): dealers are assumed long the calls and short the
#: puts the public holds, so call gamma counts positive and put gamma negative. A positive
#: total means dealers hedge against the move (dampening), a negative one with it.
GEX_SIGN = {"CE": 1.0, "PE": -1.0}


def pivot_sides(long: pa.Table, columns: list[str]) -> pa.Table:
    """Long rows (``strike``, ``option_type``, ``columns``) as one row per strike:
    ``strike``, ``ce_<col>``..., ``pe_<col>``...; a missing leg is null."""
    sides = []
    for side in ("CE", "PE"):
        rows = long.filter(pc.equal(long.column("option_type"), side))
        cols = {"strike": rows.column("strike")}
        cols |= {f"{side.lower()}_{c}": rows.column(c) for c in columns}
        sides.append(pa.table(cols))
    wide = sides[0].join(sides[1], keys="strike", join_type="full outer")
    return wide.sort_by("strike")


def wide_chain(long: pa.Table) -> pa.Table:
    """One snapshot's long rows as the wide chain (``analytics.sql.WIDE_COLUMNS``), the same
    table ``CHAIN_WIDE_SQL`` makes in DuckDB, without a second read: a missing leg is null,
    ``underlying_value`` the larger of the two legs'."""
    legs = [c[3:] for c in WIDE_COLUMNS if c.startswith("ce_")]
    wide = pivot_sides(long, [*legs, "underlying_value"])
    n = wide.num_rows
    cols = {
        name: pa.repeat(long.column(name)[0], n) if n else long.column(name).slice(0, 0)
        for name in ("symbol", "expiry", "exchange_ts")
    }
    spot = pc.max_element_wise(
        wide.column("ce_underlying_value"), wide.column("pe_underlying_value"), skip_nulls=True
    )
    cols["underlying_value"] = spot
    return pa.table({c: cols[c] if c in cols else wide.column(c) for c in WIDE_COLUMNS})


def surface_table(greeks: pa.Table) -> pa.Table:
    """The volatility surface from ``greeks.chain_greeks`` rows of several expiries, in one
    pass: per (expiry, strike), ``log_moneyness`` = ln(K/F) with F the expiry's forward, and
    ``iv`` = the out-of-the-money side's model IV (PE below F, CE at or above), else the
    other side's; as ``smile.smile_table`` gives per expiry. Sorted by expiry, strike."""
    keys = ["expiry", "strike"]
    sides = []
    for side in ("CE", "PE"):
        rows = greeks.filter(pc.equal(greeks.column("option_type"), side))
        sides.append(rows.select([*keys, "model_iv"]).rename_columns([*keys, side]))
    wide = sides[0].join(sides[1], keys=keys, join_type="full outer")
    fwd = greeks.group_by("expiry").aggregate([("forward", "max")])
    wide = wide.join(fwd, keys="expiry").sort_by([("expiry", "ascending"), ("strike", "ascending")])
    strike, forward = wide.column("strike"), wide.column("forward_max")
    otm_call = pc.greater_equal(strike, forward)
    ce, pe = wide.column("CE"), wide.column("PE")
    iv = pc.coalesce(pc.if_else(otm_call, ce, pe), pc.if_else(otm_call, pe, ce))
    return pa.table(
        {
            "expiry": wide.column("expiry"),
            "strike": strike,
            "log_moneyness": pc.ln(pc.divide(strike, forward)),
            "iv": iv,
        }
    )


def window_delta(now: pa.Table, base: pa.Table) -> pa.Table:
    """OI and LTP change of every contract of snapshot ``now`` against snapshot ``base``
    (both long rows with strike, option_type, open_interest, last_price), wide by strike:
    ``ce_oi, ce_oi_base, ce_oi_change, ce_ltp, ce_ltp_change`` and the same for PE. A contract
    absent from ``base`` has a null base and a null change (not its whole OI)."""
    keys = ["strike", "option_type"]
    b = base.select([*keys, "open_interest", "last_price"]).rename_columns(
        [*keys, "oi_base", "ltp_base"]
    )
    j = now.select([*keys, "open_interest", "last_price"]).join(b, keys=keys)
    long = pa.table(
        {
            "strike": j.column("strike"),
            "option_type": j.column("option_type"),
            "oi": j.column("open_interest"),
            "oi_base": j.column("oi_base"),
            "oi_change": pc.subtract(j.column("open_interest"), j.column("oi_base")),
            "ltp": j.column("last_price"),
            "ltp_change": pc.subtract(j.column("last_price"), j.column("ltp_base")),
        }
    )
    return pivot_sides(long, ["oi", "oi_base", "oi_change", "ltp", "ltp_change"])


def lot_size(quotes: pa.Table) -> int | None:
    """The lot size of a snapshot: the GCD of its share quantities (NSE quotes quantities in
    shares and OI in lots, DESIGN.md §2). None when no quantity is recorded."""
    found: list[int] = []
    for name in ("total_buy_qty", "total_sell_qty", "bid_qty", "ask_qty"):
        col = quotes.column(name).drop_null().cast(pa.int64()).to_numpy()
        found.extend(int(v) for v in np.unique(col[col > 0]))
    return reduce(gcd, found) if found else None


def gex_by_strike(
    strike: FloatArray,
    is_call: npt.NDArray[np.bool_],
    gamma: FloatArray,
    oi: FloatArray,
    lot: float,
    spot: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Gamma exposure per strike in rupees per 1 % move of the underlying:
    ``sign * gamma * OI * lot * spot^2 * 0.01`` (sign: ``GEX_SIGN``). Returns (strikes,
    call GEX, put GEX), strikes ascending; a missing gamma or OI counts as 0."""
    value = np.nan_to_num(gamma * oi) * lot * spot * spot * 0.01
    strikes, idx = np.unique(strike, return_inverse=True)
    ce = np.bincount(idx, weights=np.where(is_call, value, 0.0), minlength=strikes.size)
    pe = np.bincount(idx, weights=np.where(is_call, 0.0, -value), minlength=strikes.size)
    return strikes, ce.astype(np.float64), pe.astype(np.float64)


def straddle_vwap(
    ce_price: FloatArray, pe_price: FloatArray, ce_volume: FloatArray, pe_volume: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Premium (CE + PE price) per snapshot and its running VWAP through the day.

    Volumes are NSE's day totals, so each snapshot's weight is the traded volume since the
    previous one (the first snapshot weighs its whole day volume so far); a drop (a new day,
    a bad quote) weighs 0. Returns (premium, vwap); the VWAP is NaN until something traded.
    """
    premium = ce_price + pe_price
    total = np.nan_to_num(ce_volume) + np.nan_to_num(pe_volume)
    weight = np.clip(np.diff(total, prepend=0.0), 0.0, None)
    weight = np.where(np.isfinite(premium), weight, 0.0)
    num = np.cumsum(np.nan_to_num(premium) * weight)
    den = np.cumsum(weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(den > 0, num / den, np.nan)
    return premium, vwap


@dataclass(frozen=True)
class IvRank:
    """Where ``current`` sits in ``observations`` recorded values (min..max)."""

    current: float
    rank: float  #: (current - min) / (max - min) * 100
    percentile: float  #: % of observations strictly below current
    low: float
    high: float
    observations: int


def iv_rank(history: FloatArray, current: float) -> IvRank | None:
    """IV rank and percentile of ``current`` among the finite values of ``history``;
    None without history. A flat history (max == min) has rank 50."""
    values = history[np.isfinite(history)]
    if values.size == 0 or not np.isfinite(current):
        return None
    low, high = float(values.min()), float(values.max())
    rank = 50.0 if high == low else (current - low) / (high - low) * 100.0
    below = float(np.count_nonzero(values < current)) / values.size * 100.0
    return IvRank(float(current), float(rank), below, low, high, int(values.size))


STEADY_COLUMNS = ("ce_oi", "pe_oi", "ce_volume", "pe_volume")


def steady_pcr(
    day: npt.NDArray[np.int64],
    minute: npt.NDArray[np.int64],
    expiry: npt.NDArray[np.int64],
    values: FloatArray,
    *,
    basis: str = "constant",
    settle_min: int = 15,
) -> dict[str, np.ndarray]:
    """All-expiry totals per minute that coverage cannot move.

    Input: one row per snapshot (IST ``day`` number, ``minute``: epoch seconds of its whole
    minute, ``expiry`` day number, ``values`` n x 4 in ``STEADY_COLUMNS`` order). Each
    expiry is carried at its latest snapshot so far.

    * ``constant``: per day, only the expiries first seen within ``settle_min`` minutes of the
      day's first snapshot count, and minutes start once all of them have been seen: the set
      (``expiries``) is the same all day, so an expiry appearing mid-session cannot step it.
    * ``ffill``: every expiry counts from its first snapshot in the range, carried across days
      until it expires; ``expiries`` says how many each minute holds (it can change).

    Returns columns ``day, minute, expiries`` and the four sums, sorted by minute.
    """
    if basis not in ("constant", "ffill"):
        raise ValueError(f"basis must be 'constant' or 'ffill', not {basis!r}")
    order = np.lexsort((minute, expiry))
    day, minute, expiry, values = day[order], minute[order], expiry[order], values[order]
    minutes, m_idx = np.unique(minute, return_inverse=True)
    # The IST day of each grid minute (a minute belongs to one day).
    m_day = np.zeros(minutes.size, dtype=np.int64)
    m_day[m_idx] = day
    exps, e_idx = np.unique(expiry, return_inverse=True)
    grid = np.full((exps.size, minutes.size, len(STEADY_COLUMNS)), np.nan)
    grid[e_idx, m_idx] = values  # rows sorted by minute: the latest of a minute wins
    carry = _ffill(grid, reset=None if basis == "ffill" else m_day)
    live = exps[:, None] >= m_day[None, :]  # an expiry stops counting after its day
    present = np.isfinite(carry[..., 0]) & live
    if basis == "constant":
        present &= _settled(grid, m_day, minutes, settle_min)
    sums = np.where(present[..., None], carry, 0.0).sum(axis=0)
    count = present.sum(axis=0)
    keep = count > 0
    if basis == "constant":
        keep &= _complete(present, grid, m_day, minutes, settle_min)
    out: dict[str, np.ndarray] = {
        "day": m_day[keep],
        "minute": minutes[keep],
        "expiries": count[keep],
    }
    for i, name in enumerate(STEADY_COLUMNS):
        out[name] = sums[keep, i]
    return out


def _ffill(grid: FloatArray, reset: npt.NDArray[np.int64] | None) -> FloatArray:
    """Carry each expiry's last value forward along the minute axis (restarting each day
    when ``reset`` holds the day of each minute)."""
    n = grid.shape[1]
    has = np.isfinite(grid[..., 0])
    pos = np.where(has, np.arange(n)[None, :], -1)
    if reset is not None:
        starts = np.flatnonzero(np.concatenate([[True], reset[1:] != reset[:-1]]))
        day_start = starts[np.searchsorted(starts, np.arange(n), side="right") - 1]
        last = np.maximum.accumulate(pos, axis=1)
        last = np.where(last >= day_start[None, :], last, -1)
    else:
        last = np.maximum.accumulate(pos, axis=1)
    filled = np.take_along_axis(grid, np.maximum(last, 0)[..., None], axis=1)
    return np.where((last >= 0)[..., None], filled, np.nan)


def _first_seen(
    grid: FloatArray, m_day: npt.NDArray[np.int64], minutes: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Per (expiry, minute): that day's first snapshot minute of the expiry (inf if none)
    and of any expiry."""
    seen = np.where(np.isfinite(grid[..., 0]), minutes[None, :].astype(np.float64), np.inf)
    first_e = np.full(seen.shape, np.inf)
    day_first = np.empty(minutes.size, dtype=np.int64)
    for d in np.unique(m_day):
        cols = m_day == d
        first_e[:, cols] = seen[:, cols].min(axis=1, keepdims=True)
        day_first[cols] = minutes[cols].min()
    return day_first, first_e


def _settled(
    grid: FloatArray, m_day: npt.NDArray[np.int64], minutes: npt.NDArray[np.int64], settle: int
) -> npt.NDArray[np.bool_]:
    """Per (expiry, minute): whether the expiry belongs to its day's constant set."""
    day_first, first_e = _first_seen(grid, m_day, minutes)
    return first_e <= (day_first + settle * 60)[None, :]


def _complete(
    present: npt.NDArray[np.bool_],
    grid: FloatArray,
    m_day: npt.NDArray[np.int64],
    minutes: npt.NDArray[np.int64],
    settle: int,
) -> npt.NDArray[np.bool_]:
    """Minutes where every expiry of the day's constant set has been seen."""
    members = _settled(grid, m_day, minutes, settle)
    done: npt.NDArray[np.bool_] = np.all(present | ~members, axis=0) & np.any(members, axis=0)
    return done
