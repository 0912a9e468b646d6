"""Greeks and implied volatility for option_quotes rows: forward, time, price, then Black-76.

Where it sits: ``nsechain.query`` (``Desk.greeks``, ``Desk.iv_smile``) and the benchmark call
``chain_greeks`` on Arrow tables of ``QUOTES_SCHEMA`` rows, any mix of symbols, expiries and
snapshots. The maths is in ``analytics/black76.py`` and re-exported here.

Per snapshot (symbol, expiry, exchange_ts), all vectorised over the whole table:

- time to expiry: from ``exchange_ts`` to 15:30 IST on the expiry date, in years of 365 days;
- the price of a contract: the bid/ask mid when both sides are quoted, else the last price;
- the forward: put-call parity ``F = K + exp(rT) (C - P)`` on the CE/PE pairs nearest the
  spot (the two nearest, averaged); the carry forward ``spot * exp(rT)`` when no pair is
  quoted or parity gives something absurd (more than 10 % off carry: a stale quote, not a
  forward);
- IV from that price; greeks from that IV. A contract without an IV has null greeks and an
  ``iv_reason`` (see ``black76.implied_vol``); no NaN or inf leaves this module.

NSE's own ``iv`` column is in percent; so is ``model_iv`` here, to compare like with like.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from nsechain.analytics.black76 import (
    IV_MAX,
    IV_MIN,
    FloatArray,
    Greeks,
    black76,
    black76_price,
    implied_vol,
)

__all__ = [
    "DEFAULT_RATE",
    "IV_MAX",
    "IV_MIN",
    "Greeks",
    "black76",
    "black76_price",
    "chain_greeks",
    "compare_iv",
    "implied_forward",
    "implied_vol",
    "option_price",
    "years_to_expiry",
]

#: Risk-free rate (decimal, continuously compounded) when the caller gives none: about the
#: Indian 91-day T-bill yield. Pass ``rate=`` to override.
DEFAULT_RATE = 0.065

_DAY_S = 86_400
_YEAR_S = 365 * _DAY_S
_CLOSE_UTC_S = 10 * 3600  # 15:30 IST is 10:00 UTC (IST has no DST)
_MAX_FORWARD_GAP = 0.10
IntArray = npt.NDArray[np.int64]


def years_to_expiry(expiry_days: npt.ArrayLike, ts_us: npt.ArrayLike) -> FloatArray:
    """Years from ``ts_us`` (µs since the epoch) to 15:30 IST on ``expiry_days`` (days since
    the epoch). Zero or negative once that moment has passed."""
    close_s = np.asarray(expiry_days, dtype=np.float64) * _DAY_S + _CLOSE_UTC_S
    return (close_s - np.asarray(ts_us, dtype=np.float64) / 1e6) / _YEAR_S


def option_price(
    bid: FloatArray, ask: FloatArray, last: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """Mid of a two-sided quote, else the last price, else NaN; and which one was used."""
    two_sided = (bid > 0) & (ask > 0) & (ask >= bid)
    has_last = last > 0
    price = np.where(two_sided, 0.5 * (bid + ask), np.where(has_last, last, np.nan))
    source = np.where(two_sided, "mid", np.where(has_last, "last", ""))
    return price, source


def _snapshot_ids(table: pa.Table, expiry_days: IntArray, ts_us: IntArray) -> IntArray:
    """A dense id per (symbol, expiry, exchange_ts), from one lexsort, no Python loop."""
    sym = pc.dictionary_encode(table.column("symbol")).combine_chunks().indices
    sym_ids = np.asarray(sym.to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.lexsort((ts_us, expiry_days, sym_ids))
    keys = np.stack([sym_ids[order], expiry_days[order], ts_us[order]])
    starts = np.concatenate([[True], np.any(keys[:, 1:] != keys[:, :-1], axis=0)])
    ids = np.empty(order.size, dtype=np.int64)
    ids[order] = np.cumsum(starts) - 1
    return ids


def _rank_in_group(group: IntArray) -> IntArray:
    """Position of each row within its run of equal ``group`` values (input sorted by group)."""
    pos = np.arange(group.size)
    starts = np.concatenate([[True], group[1:] != group[:-1]])
    return pos - np.maximum.accumulate(np.where(starts, pos, 0))


def implied_forward(
    group: IntArray,
    strike: FloatArray,
    is_call: npt.NDArray[np.bool_],
    price: FloatArray,
    spot: FloatArray,
    t: FloatArray,
    rate: float,
    *,
    pairs: int = 2,
) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """Forward per row by put-call parity on the ``pairs`` CE/PE pairs nearest the spot of its
    snapshot (``group``), else ``spot * exp(rate * t)``. Returns (forward, 'parity' | 'carry').
    """
    order = np.lexsort((~is_call, strike, group))  # CE right before PE at each strike
    g, k, c, p = group[order], strike[order], is_call[order], price[order]
    both = np.isfinite(p[:-1]) & np.isfinite(p[1:])
    i = np.flatnonzero(c[:-1] & ~c[1:] & (g[:-1] == g[1:]) & (k[:-1] == k[1:]) & both)
    t_i, s_i = t[order][i], spot[order][i]
    fwd = k[i] + np.exp(rate * t_i) * (p[i] - p[i + 1])
    near = np.lexsort((np.abs(k[i] - s_i), g[i]))  # by group, nearest strike first
    use = near[_rank_in_group(g[i][near]) < pairs]
    n_groups = int(group.max()) + 1 if group.size else 0
    total = np.bincount(g[i][use], weights=fwd[use], minlength=n_groups)
    count = np.bincount(g[i][use], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_group = total / count
    forward = per_group[group]
    carry = spot * np.exp(rate * t)
    with np.errstate(invalid="ignore", divide="ignore"):
        sane = np.abs(forward / carry - 1.0) < _MAX_FORWARD_GAP
    return np.where(sane, forward, carry), np.where(sane, "parity", "carry")


def _f64(table: pa.Table, name: str) -> FloatArray:
    col = table.column(name).cast(pa.float64())
    return np.asarray(col.to_numpy(), dtype=np.float64)  # nulls become NaN


def _nullable(values: FloatArray) -> pa.Array:
    return pa.array(values, type=pa.float64(), mask=~np.isfinite(values))


def _labels(values: npt.NDArray[np.str_] | npt.NDArray[np.object_]) -> pa.Array:
    arr = pa.array(values.astype(object), type=pa.string())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def chain_greeks(quotes: pa.Table, *, rate: float = DEFAULT_RATE) -> pa.Table:
    """IV and greeks of every row of a ``QUOTES_SCHEMA`` table, valued at its ``exchange_ts``.

    Columns: symbol, expiry, exchange_ts, strike, option_type, underlying_value, forward,
    forward_source, t_years, price, price_source, nse_iv, model_iv (both percent), iv_reason,
    delta, gamma, theta, vega, rho (units in ``analytics/black76.py``). Row order is kept.
    """
    expiry_days = np.asarray(quotes.column("expiry").cast(pa.int32()).to_numpy(), np.int64)
    ts_us = np.asarray(quotes.column("exchange_ts").cast(pa.int64()).to_numpy(), np.int64)
    is_call = np.asarray(pc.equal(quotes.column("option_type"), "CE").to_numpy(), dtype=bool)
    strike, spot = _f64(quotes, "strike"), _f64(quotes, "underlying_value")
    t = years_to_expiry(expiry_days, ts_us)
    price, price_source = option_price(
        _f64(quotes, "bid_price"), _f64(quotes, "ask_price"), _f64(quotes, "last_price")
    )
    group = _snapshot_ids(quotes, expiry_days, ts_us)
    forward, forward_source = implied_forward(group, strike, is_call, price, spot, t, rate)
    sigma, reason = implied_vol(price, forward, strike, t, rate, is_call)
    greeks = black76(forward, strike, t, sigma, rate, is_call)
    nse_iv = _f64(quotes, "iv")
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: quotes.column(name)
        for name in ("symbol", "expiry", "exchange_ts", "strike", "option_type")
    }
    columns |= {
        "underlying_value": _nullable(spot),
        "forward": _nullable(forward),
        "forward_source": _labels(np.where(np.isfinite(forward), forward_source, "")),
        "t_years": _nullable(t),
        "price": _nullable(price),
        "price_source": _labels(price_source),
        "nse_iv": _nullable(np.where(nse_iv > 0, nse_iv, np.nan)),  # NSE sends 0 for "none"
        "model_iv": _nullable(sigma * 100.0),
        "iv_reason": _labels(np.where(reason == None, "", reason)),  # noqa: E711
    }
    columns |= {name: _nullable(getattr(greeks, name)) for name in Greeks._fields[1:]}
    return pa.table(columns)


def compare_iv(quotes: pa.Table, *, rate: float = DEFAULT_RATE) -> pa.Table:
    """NSE's IV next to ours: key columns, forward, price, nse_iv, model_iv, iv_diff
    (model - NSE, percentage points) and iv_reason."""
    g = chain_greeks(quotes, rate=rate)
    diff = pc.subtract(g.column("model_iv"), g.column("nse_iv"))
    keep = ["symbol", "expiry", "exchange_ts", "strike", "option_type", "underlying_value"]
    keep += ["forward", "price", "price_source", "nse_iv", "model_iv"]
    return (
        g.select(keep)
        .append_column("iv_diff", diff)
        .append_column("iv_reason", g.column("iv_reason"))
    )
