"""Black-76 on numpy arrays: prices, greeks and a robust vectorised implied-volatility solver.

Where it sits: the maths under ``analytics/greeks.py`` (which turns option_quotes rows into
forward, time and price arrays and calls these). Pure functions of arrays; no loops over
contracts, only a short loop over solver iterations on the still-unsolved subset.

Conventions: ``sigma`` and ``rate`` are decimals (0.12 = 12 %), ``t`` is in years,
``is_call`` is a boolean array. Greeks are Black-76 greeks with respect to the forward, with the
units trading screens use: ``delta`` per 1 point of the forward, ``gamma`` per point squared,
``vega`` per 1 volatility point (sigma + 0.01), ``theta`` per calendar day (forward held
fixed), ``rho`` per 1 % of rate (forward held fixed).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]

__all__ = [
    "IV_MAX",
    "IV_MIN",
    "Greeks",
    "black76",
    "black76_price",
    "implied_vol",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike

#: The solver's bracket: implied volatilities outside it are reported as not found.
IV_MIN = 1e-4
IV_MAX = 10.0
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


class Greeks(NamedTuple):
    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    rho: FloatArray


def _f64(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _sign(is_call: ArrayLike) -> FloatArray:
    # w = +1 for calls, -1 for puts: one formula prices both, w*(F*N(w*d1) - K*N(w*d2)).
    return np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)


def _undiscounted(
    f: FloatArray, k: FloatArray, sqrt_t: FloatArray, sigma: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Undiscounted Black price and d1."""
    sd = sigma * sqrt_t
    d1 = np.log(f / k) / sd + 0.5 * sd
    price = w * (f * ndtr(w * d1) - k * ndtr(w * (d1 - sd)))
    return price, d1


def black76_price(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:
    """Discounted Black-76 price: ``exp(-rT) * w * (F N(w d1) - K N(w d2))``."""
    f, k, tt, s, r = (_f64(a) for a in (forward, strike, t, sigma, rate))
    with np.errstate(all="ignore"):
        b, _ = _undiscounted(f, k, np.sqrt(tt), s, _sign(is_call))
        return np.asarray(np.exp(-r * tt) * b, dtype=np.float64)


def black76(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    sigma: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Price and greeks (units in the module docstring). NaN inputs give NaN outputs."""
    f, k, tt, s, r = (_f64(a) for a in (forward, strike, t, sigma, rate))
    w = _sign(is_call)
    with np.errstate(all="ignore"):
        sqrt_t = np.sqrt(tt)
        b, d1 = _undiscounted(f, k, sqrt_t, s, w)
        df = np.exp(-r * tt)
        price = df * b
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
        delta = df * w * ndtr(w * d1)
        gamma = df * pdf / (f * s * sqrt_t)
        vega = df * f * pdf * sqrt_t
        # dV/dt = -dV/dT; V = DF*B so dV/dT = -r V + DF * F n(d1) sigma / (2 sqrt T).
        theta = r * price - df * f * pdf * s / (2.0 * sqrt_t)
        rho = -tt * price
    return Greeks(price, delta, gamma, theta / 365.0, vega / 100.0, rho / 100.0)


def _reasons(
    price: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, otm: FloatArray
) -> npt.NDArray[np.object_]:
    """Why no IV can exist, per contract (None where the solver should run).

    ``otm`` is the undiscounted out-of-the-money-equivalent price (see ``implied_vol``).
    Checked in priority order: the first matching reason wins.
    """
    bound = np.where(k >= f, f, k)  # an OTM call is worth < F, an OTM put < K
    checks = (
        ("no_forward", ~(np.isfinite(f) & (f > 0))),
        ("bad_strike", ~(np.isfinite(k) & (k > 0))),
        ("expired", ~(t > 0)),
        ("no_price", ~(price > 0)),
        ("below_intrinsic", ~(otm > 0)),
        ("above_bound", ~(otm < bound)),
    )
    reason = np.full(price.shape, None, dtype=object)
    for code, bad in reversed(checks):  # reversed: earlier checks overwrite later ones
        reason[bad] = code
    return reason


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
    *,
    max_iter: int = 60,
) -> tuple[FloatArray, npt.NDArray[np.object_]]:
    """Black-76 implied volatility of discounted ``price``; returns ``(sigma, reason)``.

    ``sigma`` is NaN exactly where ``reason`` is a string: ``no_forward``, ``bad_strike``,
    ``expired``, ``no_price``, ``below_intrinsic`` (at or under discounted intrinsic value),
    ``above_bound`` (worth more than the forward/strike allows) or ``no_convergence``.

    Method: an in-the-money price is turned into its out-of-the-money twin by put-call parity
    (same sigma, far better conditioned: deep ITM prices are mostly intrinsic), then
    ``ln B(sigma) = ln price`` is solved by Newton steps kept inside a shrinking bracket
    [IV_MIN, IV_MAX], with geometric bisection whenever a step would leave it. Bounded and
    monotone, so no NaN storms; typically 4-8 iterations.
    """
    p, f, k, tt, r = np.broadcast_arrays(*(_f64(a) for a in (price, forward, strike, t, rate)))
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), p.shape)
    with np.errstate(all="ignore"):
        intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        otm = p * np.exp(r * tt) - intrinsic
        reason = _reasons(p, f, k, tt, otm)
        todo = np.flatnonzero(reason == None)  # noqa: E711 (elementwise on an object array)
        sigma = np.full(p.shape, np.nan)
        solved = _solve(otm[todo], f[todo], k[todo], tt[todo], max_iter)
    sigma[todo] = solved
    reason[todo[np.isnan(solved)]] = "no_convergence"
    return sigma, reason


def _solve(b: FloatArray, f: FloatArray, k: FloatArray, t: FloatArray, max_iter: int) -> FloatArray:
    """Solve B_otm(sigma) = b for OTM-equivalent undiscounted prices b (all valid)."""
    w = np.where(k >= f, 1.0, -1.0)  # the OTM side: call above the forward, put below
    sqrt_t = np.sqrt(t)
    log_b = np.log(b)
    # Manaster-Koehler start: the inflection point of B(sigma), clipped into the bracket.
    sigma = np.clip(np.sqrt(2.0 * np.abs(np.log(f / k)) / t), 0.05, 2.0)
    lo, hi = np.full(b.shape, IV_MIN), np.full(b.shape, IV_MAX)
    out = np.full(b.shape, np.nan)
    idx = np.arange(b.size)
    for _ in range(max_iter):
        if idx.size == 0:
            break
        price, d1 = _undiscounted(f[idx], k[idx], sqrt_t[idx], sigma, w[idx])
        gap = np.log(price) - log_b[idx]  # -inf if price underflowed: treated as "too low"
        low = gap < 0
        lo[idx] = np.where(low, sigma, lo[idx])
        hi[idx] = np.where(low, hi[idx], sigma)
        vega = f[idx] * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) * sqrt_t[idx]
        step = sigma - gap * price / vega  # Newton on ln B: d(ln B)/d(sigma) = vega / B
        outside = ~((step > lo[idx]) & (step < hi[idx]))
        step = np.where(outside, np.sqrt(lo[idx] * hi[idx]), step)
        done = (np.abs(gap) < 1e-12) | (np.abs(step - sigma) < 1e-12 * sigma)
        out[idx[done]] = np.where(np.abs(gap[done]) < 1e-12, sigma[done], step[done])
        keep = ~done
        idx, sigma = idx[keep], step[keep]
    # Pinned to a bracket end means the root lies outside [IV_MIN, IV_MAX]: not found.
    out[(out <= IV_MIN * 1.000001) | (out >= IV_MAX * 0.999999)] = np.nan
    return out
