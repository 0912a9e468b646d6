"""Black-76 prices, greeks and implied volatility: identities, finite differences, round trips,
and what happens to contracts that have no IV (null + reason, never NaN or inf)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import fixture_bytes
from nsechain.analytics.greeks import (
    black76,
    black76_price,
    chain_greeks,
    compare_iv,
    implied_vol,
    years_to_expiry,
)
from nsechain.contract import QUOTES_SCHEMA
from nsechain.timeutil import IST

R = 0.065
F = 24_500.0


def grid() -> tuple[np.ndarray, ...]:
    """Strikes from deep ITM to deep OTM, expiries from an hour to two years, both types."""
    k = F * np.exp(np.linspace(-0.6, 0.6, 25))
    t = np.array([1 / 24 / 365, 1 / 365, 7 / 365, 30 / 365, 0.5, 2.0])
    s = np.array([0.08, 0.2, 0.6, 1.2])
    kk, tt, ss, cc = np.meshgrid(k, t, s, [True, False], indexing="ij")
    return kk.ravel(), tt.ravel(), ss.ravel(), cc.ravel()


def test_put_call_parity() -> None:
    k, t, s, _ = grid()
    call = black76_price(F, k, t, s, R, True)
    put = black76_price(F, k, t, s, R, False)
    np.testing.assert_allclose(call - put, np.exp(-R * t) * (F - k), rtol=0, atol=1e-8 * F)


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_match_finite_differences(is_call: bool) -> None:
    k = F * np.array([0.9, 0.97, 1.0, 1.03, 1.1])
    t, s = 30 / 365, 0.18
    g = black76(F, k, t, s, R, is_call)

    def v(f: float = F, tt: float = t, ss: float = s, r: float = R) -> np.ndarray:
        return black76_price(f, k, tt, ss, r, is_call)

    hf, ht, hs, hr = 0.5, 1e-5, 1e-5, 1e-5
    np.testing.assert_allclose(g.price, v(), rtol=1e-12)
    np.testing.assert_allclose(g.delta, (v(f=F + hf) - v(f=F - hf)) / (2 * hf), rtol=1e-6)
    gamma_fd = (v(f=F + hf) - 2 * v() + v(f=F - hf)) / hf**2
    np.testing.assert_allclose(g.gamma, gamma_fd, rtol=1e-4)
    # Units: vega per vol point, theta per calendar day (dV/dt = -dV/dT), rho per 1 % rate.
    np.testing.assert_allclose(g.vega * 100, (v(ss=s + hs) - v(ss=s - hs)) / (2 * hs), rtol=1e-6)
    theta_fd = -(v(tt=t + ht) - v(tt=t - ht)) / (2 * ht)
    np.testing.assert_allclose(g.theta * 365, theta_fd, rtol=1e-6)
    np.testing.assert_allclose(g.rho * 100, (v(r=R + hr) - v(r=R - hr)) / (2 * hr), rtol=1e-6)


def test_iv_round_trip_across_strikes_and_expiries() -> None:
    k, t, s, c = grid()
    price = black76_price(F, k, t, s, R, c)
    iv, reason = implied_vol(price, F, k, t, R, c)
    solved = reason == None  # noqa: E711
    # Deep ITM with tiny vol: the time value is below the float resolution of the price, so
    # the price is intrinsic; deep OTM an hour before expiry: the price underflows to 0. Both
    # are reported as such, not given a made-up IV.
    assert set(reason[~solved]) <= {"below_intrinsic", "no_price"}
    assert (price[reason == "no_price"] == 0).all()
    intrinsic = np.exp(-R * t) * np.maximum(np.where(c, F - k, k - F), 0)
    at_intrinsic = reason == "below_intrinsic"
    np.testing.assert_allclose(price[at_intrinsic], intrinsic[at_intrinsic], rtol=1e-12)
    repriced = black76_price(F, k[solved], t[solved], iv[solved], R, c[solved])
    np.testing.assert_allclose(repriced, price[solved], rtol=1e-9, atol=1e-9 * F)
    # Where the out-of-the-money twin is worth something, the IV itself comes back exactly.
    twin = black76_price(F, k, t, s, R, k >= F)
    exact = solved & (twin > 1e-3)
    assert set(t[exact]) == set(t)  # every expiry, an hour to two years
    assert set(k[exact & c]) >= {k.min(), k.max()}  # deep ITM and deep OTM calls
    np.testing.assert_allclose(iv[exact], s[exact], rtol=1e-7)


def test_iv_reasons_instead_of_nan() -> None:
    price = np.array([0.0, np.nan, 5.0, 100.0, 30_000.0, 20.0, 20.0])
    k = np.array([24_500, 24_500, 24_500, 24_000, 24_500, 24_500, 24_500.0])
    t = np.array([0.1, 0.1, -0.001, 0.1, 0.1, 0.1, 0.1])
    fwd = np.array([F, F, F, F, F, np.nan, F])
    is_call = np.array([True, True, True, True, True, True, False])
    iv, reason = implied_vol(price, fwd, k, t, R, is_call)
    assert list(reason[:6]) == [
        "no_price",
        "no_price",
        "expired",
        "below_intrinsic",  # an ITM call at 100 when intrinsic is ~490
        "above_bound",  # a call worth more than the forward
        "no_forward",
    ]
    assert np.isnan(iv[:6]).all()
    assert reason[6] is None and np.isfinite(iv[6])


def test_time_to_expiry_counts_to_1530_ist() -> None:
    expiry = np.array([(date(2026, 8, 11) - date(1970, 1, 1)).days])
    at = datetime(2026, 8, 11, 11, 29, 3, tzinfo=IST)
    years = years_to_expiry(expiry, [int(at.timestamp() * 1_000_000)])
    left = datetime(2026, 8, 11, 15, 30, tzinfo=IST) - at
    assert years[0] == pytest.approx(left.total_seconds() / (365 * 86_400))
    after_close = datetime(2026, 8, 11, 15, 31, tzinfo=IST)
    assert years_to_expiry(expiry, [int(after_close.timestamp() * 1e6)])[0] < 0


def synthetic_chain(forward: float, spot: float, ts: datetime, expiry: date) -> pa.Table:
    """A chain priced with Black-76 at ``forward``, quoted 0.05 either side of fair value."""
    strikes = np.arange(23_500.0, 25_501.0, 100.0)
    t = years_to_expiry([(expiry - date(1970, 1, 1)).days], [int(ts.timestamp() * 1e6)])[0]
    rows = []
    for side in ("CE", "PE"):
        fair = black76_price(forward, strikes, t, 0.15, R, side == "CE")
        rows += [
            {
                "exchange_ts": ts,
                "fetched_at": ts,
                "symbol": "SYN",
                "expiry": expiry,
                "strike": float(k),
                "option_type": side,
                "last_price": float(p),
                "bid_price": float(p) - 0.05,
                "ask_price": float(p) + 0.05,
                "underlying_value": spot,
                "iv": 15.0,
            }
            for k, p in zip(strikes, fair, strict=True)
        ]
    return pa.Table.from_pylist(rows, schema=QUOTES_SCHEMA)


def test_forward_from_put_call_parity_and_iv_back() -> None:
    ts = datetime(2026, 8, 20, 11, 0, tzinfo=IST)
    table = synthetic_chain(24_560.0, 24_450.0, ts, date(2026, 9, 24))
    g = chain_greeks(table, rate=R)
    assert set(g.column("forward_source").to_pylist()) == {"parity"}
    np.testing.assert_allclose(g.column("forward").to_numpy(), 24_560.0, rtol=1e-9)
    iv = g.column("model_iv").to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(iv, 15.0, atol=1e-6)
    assert pc.all(pc.equal(g.column("price_source"), "mid")).as_py()


def test_chain_greeks_never_leaks_nan_or_inf() -> None:
    ts = datetime(2026, 8, 20, 11, 0, tzinfo=IST)
    live = synthetic_chain(24_560.0, 24_450.0, ts, date(2026, 9, 24))
    expired = synthetic_chain(24_560.0, 24_450.0, ts, date(2026, 8, 13))
    # Zero prices and no quotes: a dead contract as NSE sends it.
    dead = live.slice(0, 3)
    for name in ("last_price", "bid_price", "ask_price"):
        i = dead.schema.get_field_index(name)
        dead = dead.set_column(i, name, pa.array([0.0, 0.0, 0.0]))
    no_spot = live.slice(3, 2)
    i = no_spot.schema.get_field_index("underlying_value")
    no_spot = no_spot.set_column(i, "underlying_value", pa.nulls(2, pa.float64()))
    later = pa.array([ts.replace(minute=1)] * 2, no_spot.schema.field(0).type)
    no_spot = no_spot.set_column(0, no_spot.schema.field(0), later)  # a snapshot of its own
    g = chain_greeks(pa.concat_tables([live, expired, dead, no_spot]), rate=R)
    for field in g.schema:
        if pa.types.is_floating(field.type):
            values = g.column(field.name).drop_null().to_numpy()
            assert np.isfinite(values).all(), field.name
    reasons = g.column("iv_reason").to_pylist()
    n = live.num_rows
    assert all(r is None for r in reasons[:n])
    assert set(reasons[n : 2 * n]) == {"expired"}
    assert reasons[2 * n : 2 * n + 3] == ["no_price"] * 3
    assert reasons[2 * n + 3 :] == ["no_forward"] * 2
    bad = pc.is_valid(g.column("iv_reason"))
    for name in ("model_iv", "delta", "gamma", "theta", "vega", "rho"):
        assert g.column(name).filter(bad).null_count == pc.sum(bad.cast(pa.int64())).as_py()


def test_compare_with_nse_iv_on_real_data() -> None:
    from nsechain.nse.parse import parse_chain

    body = fixture_bytes("v3_equity_RELIANCE_2026-08-11_112849.json")
    fetched = datetime(2026, 8, 11, 11, 28, 50, tzinfo=IST)
    table = parse_chain(body, symbol="RELIANCE", fetched_at=fetched).table
    cmp = compare_iv(table)
    assert cmp.num_rows == table.num_rows
    diff = pc.subtract(cmp.column("model_iv"), cmp.column("nse_iv"))
    assert cmp.column("iv_diff").equals(diff)
    # Near the money, with 14 days left, our Black-76 IV is within 3 points of NSE's.
    spot = 1319.6
    near = pc.less(pc.abs(pc.subtract(cmp.column("strike"), spot)), 30)
    close = cmp.column("iv_diff").filter(near).drop_null().to_numpy()
    assert close.size >= 4
    assert np.abs(close).max() < 3.0


def test_forward_falls_back_to_carry_without_a_quoted_pair() -> None:
    ts = datetime(2026, 8, 20, 11, 0, tzinfo=IST)
    expiry = date(2026, 9, 24)
    table = synthetic_chain(24_560.0, 24_450.0, ts, expiry)
    calls_only = table.filter(pc.equal(table.column("option_type"), "CE"))
    g = chain_greeks(calls_only, rate=R)
    t = g.column("t_years")[0].as_py()
    assert set(g.column("forward_source").to_pylist()) == {"carry"}
    np.testing.assert_allclose(g.column("forward").to_numpy(), 24_450.0 * np.exp(R * t))
