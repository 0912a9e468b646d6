"""Gatekeeping like NSE: bootstrap cookies (401 without them, and they expire) and a
per-client rate limit that answers 403 and blocks for a cool-off."""

from __future__ import annotations

import time

import httpx

from nsechain.sim.server import SimConfig, Simulator

CHAIN = "/api/option-chain-v3?type=Indices&symbol=NIFTY&expiry=01-Dec-2026"
START = "2026-11-25T10:00:00"


def test_api_needs_bootstrap_cookies() -> None:
    with (
        Simulator(SimConfig(speed=0, start=START)) as sim,
        httpx.Client(base_url=sim.base_url) as c,
    ):
        r = c.get(CHAIN)
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("text/html")
        assert b"No authorization token was found" in r.content
        page = c.get("/option-chain")
        assert page.status_code == 200
        assert {"nsit", "nseappid", "bm_sv"} <= set(c.cookies)
        assert "Max-Age=7200" in page.headers["set-cookie"]
        r = c.get(CHAIN)
        assert r.status_code == 200 and r.json()["records"]["data"]
        counters = sim.counters()
    assert counters["bootstraps"] == 1
    assert counters["requests"]["/api/option-chain-v3"] == {"401": 1, "200": 1}


def test_home_page_bootstraps_too_and_every_api_path_is_gated() -> None:
    with (
        Simulator(SimConfig(speed=0, start=START)) as sim,
        httpx.Client(base_url=sim.base_url) as c,
    ):
        for path in ("/api/marketStatus", "/api/underlying-information"):
            assert c.get(path).status_code == 401
        assert c.get("/").status_code == 200
        for path in ("/api/marketStatus", "/api/underlying-information"):
            assert c.get(path).status_code == 200


def test_cookies_expire_on_the_wall_clock() -> None:
    config = SimConfig(speed=0, start=START, cookie_max_age_s=60)
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        assert c.get(CHAIN).status_code == 200
        sim.gate.clock = lambda: time.time() + 61  # a minute later on the wall clock
        assert c.get(CHAIN).status_code == 401
        c.get("/option-chain")  # a fresh bootstrap works again
        assert c.get(CHAIN).status_code == 200


def test_forged_or_partial_cookies_are_refused() -> None:
    with (
        Simulator(SimConfig(speed=0, start=START)) as sim,
        httpx.Client(base_url=sim.base_url) as c,
    ):
        c.get("/option-chain")
        token = c.cookies["nseappid"]
        head, payload, _ = token.split(".")
        forged = {"nsit": c.cookies["nsit"], "nseappid": f"{head}.{payload}.AAAA"}
        without_nsit = {"nseappid": token}
        for cookies in (forged, without_nsit, {"nsit": "x", "nseappid": "not-a-jwt"}):
            with httpx.Client(base_url=sim.base_url, cookies=cookies) as other:
                assert other.get(CHAIN).status_code == 401


def test_rate_limit_answers_403_and_blocks_the_client() -> None:
    config = SimConfig(speed=0, start=START, rate_limit=5, rate_burst=5, cool_off_s=600)
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        statuses = [c.get(CHAIN).status_code for _ in range(20)]
        assert statuses[0] == 200
        first_403 = statuses.index(403)
        assert all(s == 403 for s in statuses[first_403:])  # blocked: no request gets through
        r = c.get("/option-chain")  # the block covers every page, not just the API
        assert r.status_code == 403
        assert b"requests per second has exceeded" in r.content
        assert b"after 10 minutes" in r.content
        counters = sim.counters()
        assert counters["rate_limit"]["blocks"] == 1
        assert counters["rate_limit"]["refused"] == statuses.count(403) + 1
        sim.reset()  # lifts the block
        assert c.get(CHAIN).status_code == 200


def test_block_ends_after_the_cool_off() -> None:
    config = SimConfig(speed=0, start=START, rate_limit=2, rate_burst=1, cool_off_s=0.3)
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        statuses = [c.get(CHAIN).status_code for _ in range(5)]
        assert 403 in statuses
        time.sleep(0.5)
        assert c.get(CHAIN).status_code == 200


def test_admin_endpoints_are_never_limited_or_counted() -> None:
    config = SimConfig(speed=0, start=START, rate_limit=1, rate_burst=1, cool_off_s=600)
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        for _ in range(5):
            assert c.get("/__admin/counters").status_code == 200
        assert sim.counters()["requests_total"] == 0
