"""Pure maths for the simulated market: Black-Scholes, implied volatility, the smile, and
counter-based random numbers.

Where it sits: under ``market.py``. Nothing here holds state. Random numbers are a hash of
(seed, symbol, contract, instant) rather than a stream, so any snapshot can be rebuilt in any
order and two simulators with one seed serve identical bytes.
"""

from __future__ import annotations

import math

__all__ = [
    "RATE",
    "bs_pair",
    "bs_price",
    "gauss",
    "implied_vol",
    "mix",
    "smile",
    "unit",
]

#: Risk-free rate for pricing and for the implied-volatility inversion (continuous, annual).
RATE = 0.06

_M64 = (1 << 64) - 1
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def mix(a: int, b: int) -> int:
    """Combine two integers into a well-spread 64-bit hash (splitmix64 finaliser)."""
    z = (a * 0x9E3779B97F4A7C15 + b) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def unit(h: int) -> float:
    """A uniform number in [0, 1) from a hash."""
    return (h >> 11) * (1.0 / (1 << 53))


def gauss(h: int) -> float:
    """A standard normal number from a hash (Box-Muller on two derived uniforms)."""
    u1 = unit(mix(h, 1)) or 1e-12
    u2 = unit(mix(h, 2))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def bs_price(spot: float, strike: float, t: float, sigma: float, is_call: bool) -> float:
    """Black-Scholes price of a European option (no dividends, rate ``RATE``)."""
    sd = sigma * math.sqrt(t)
    disc = strike * math.exp(-RATE * t)
    d1 = (math.log(spot / strike) + (RATE + 0.5 * sigma * sigma) * t) / sd
    d2 = d1 - sd
    if is_call:
        return spot * _ncdf(d1) - disc * _ncdf(d2)
    return disc * _ncdf(-d2) - spot * _ncdf(-d1)


def bs_pair(spot: float, strike: float, t: float, sigma: float) -> tuple[float, float, float]:
    """(call, put, vega) at one strike, sharing the expensive terms."""
    sqrt_t = math.sqrt(t)
    sd = sigma * sqrt_t
    disc = strike * math.exp(-RATE * t)
    d1 = (math.log(spot / strike) + (RATE + 0.5 * sigma * sigma) * t) / sd
    n1 = _ncdf(d1)
    n2 = _ncdf(d1 - sd)
    call = spot * n1 - disc * n2
    put = disc * (1.0 - n2) - spot * (1.0 - n1)
    vega = spot * sqrt_t * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    return call, max(put, 0.0), vega


def _vega(spot: float, strike: float, t: float, sigma: float) -> float:
    sd = sigma * math.sqrt(t)
    d1 = (math.log(spot / strike) + (RATE + 0.5 * sigma * sigma) * t) / sd
    return spot * math.sqrt(t) * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)


def implied_vol(
    price: float, spot: float, strike: float, t: float, is_call: bool, guess: float
) -> float:
    """The volatility at which Black-Scholes gives ``price``; 0.0 when none exists.

    Newton from ``guess`` (the model's own sigma, so one or two steps usually do), falling back
    to bisection on [0.005, 10] when Newton leaves the bracket. 0.0 mirrors NSE, which shows an
    IV of 0 when the price is at or below intrinsic value.
    """
    lo, hi = 0.005, 10.0
    if not bs_price(spot, strike, t, lo, is_call) < price < bs_price(spot, strike, t, hi, is_call):
        return 0.0
    sigma = min(max(guess, lo), hi)
    for _ in range(50):
        diff = bs_price(spot, strike, t, sigma, is_call) - price
        if abs(diff) < 1e-6 * max(price, 1e-3):
            return sigma
        if diff > 0:
            hi = sigma
        else:
            lo = sigma
        vega = _vega(spot, strike, t, sigma)
        step = sigma - diff / vega if vega > 1e-12 else -1.0
        sigma = step if lo < step < hi else 0.5 * (lo + hi)
    return sigma


def smile(atm: float, spot: float, strike: float, t: float) -> float:
    """Volatility at ``strike``: a skewed parabola in standardised log-moneyness, clipped.

    Puts (low strikes) are richer than calls, and the wings rise faster near expiry because
    moneyness is measured in standard deviations.
    """
    z = math.log(strike / spot) / (atm * math.sqrt(t))
    sigma = atm * (1.0 - 0.06 * z + 0.03 * z * z)
    return min(max(sigma, 0.7 * atm), 5.0 * atm, 3.0)
