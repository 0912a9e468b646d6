"""The trader's desk routes on a simulated morning (the recording of ``test_web``)."""

from __future__ import annotations

import httpx

from test_web import api, get, recorded  # noqa: F401  (fixtures)


def test_chain_with_greeks_and_a_window(api: httpx.Client) -> None:  # noqa: F811
    plain = get(api, "/api/chain/NIFTY", strikes=3)
    assert plain["window_from"] is None and plain["rows"][0]["ce_delta"] is None
    c = get(api, "/api/chain/NIFTY", strikes=3, greeks="true", since="15")
    atm = next(r for r in c["rows"] if r["strike"] == c["atm_strike"])
    assert 0.3 < atm["ce_delta"] < 0.7 and -0.7 < atm["pe_delta"] < -0.3
    assert atm["ce_gamma"] > 0 and atm["ce_theta"] < 0 and atm["ce_vega"] > 0
    assert c["window_from"] < c["exchange_ts"]
    assert all("ce_oi_window" in r for r in c["rows"])
    since_open = get(api, "/api/chain/NIFTY/window", since="open")
    assert since_open[0]["from_ts"] < since_open[0]["to_ts"]


def test_strike_term_surface_straddle_gex_pcr(api: httpx.Client) -> None:  # noqa: F811
    c = get(api, "/api/chain/NIFTY", strikes=1)
    day = get(api, "/api/chain/NIFTY/strike", strike=c["atm_strike"])
    assert len(day["points"]) > 10 and day["points"][0]["ce_oi"] is not None
    term = get(api, "/api/chain/NIFTY/term")
    assert len(term["expiries"]) == 2 and term["expiries"][0]["atm_iv"] > 0
    assert term["iv_rank"]["days"] == 1 and 0 <= term["iv_rank"]["rank"]["rank"] <= 100
    surf = get(api, "/api/chain/NIFTY/surface")
    assert {r["expiry"] for r in surf} == {e["expiry"] for e in term["expiries"]}
    st = get(api, "/api/chain/NIFTY/straddle")
    assert st[-1]["premium"] > 0 and st[-1]["vwap"] > 0
    g = get(api, "/api/chain/NIFTY/gex")
    assert "call gamma counts positive" in g["convention"] and g["lot"] > 0
    assert abs(sum(r["gex"] for r in g["rows"]) - g["total"]) < 1e-6 * max(abs(g["total"]), 1)
    pcr = get(api, "/api/pcr/NIFTY")
    assert {r["basis"] for r in pcr} == {"constant"} and len({r["expiries"] for r in pcr}) == 1
    get(api, "/api/pcr/NIFTY", 422, basis="bogus")
    get(api, "/api/chain/NOPE/term", 404)
