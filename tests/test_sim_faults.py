"""Each fault knob, observed with a raw httpx client; the admin endpoints that set them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from nsechain.sim.faults import FaultSpec, parse_faults
from nsechain.sim.server import SimConfig, Simulator

CHAIN = "/api/option-chain-v3?type=Equity&symbol=RELIANCE&expiry=29-Dec-2026"
START = "2026-11-25T11:02:00"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=3, speed=0, start=START)) as s:
        yield s


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, timeout=10) as c:
        c.get("/option-chain")
        yield c


def test_5xx(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"error_5xx": {"every": 1, "status": 502}})
    r = client.get(CHAIN)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert sim.counters()["faults"] == {"error_5xx": 1}


def test_empty_body(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"empty": {"every": 1}})
    r = client.get(CHAIN)
    assert (r.status_code, r.content) == (200, b"{}")


def test_akamai_block_page_is_one_off(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"block": {"every": 2}})
    assert client.get(CHAIN).status_code == 200
    r = client.get(CHAIN)
    assert r.status_code == 403 and b"Access Denied" in r.content
    assert b"You don't have permission to access" in r.content
    assert client.get(CHAIN).status_code == 200  # no lasting block, unlike the rate limit


def test_truncated_json_fails_to_parse(sim: Simulator, client: httpx.Client) -> None:
    whole = client.get(CHAIN).content
    sim.set_faults({"truncate": {"every": 1, "fraction": 0.5}})
    r = client.get(CHAIN)
    assert r.status_code == 200 and r.content == whole[: len(whole) // 2]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_slow_answer_times_out_a_short_client(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"slow": {"every": 1, "delay_s": 5}})
    with pytest.raises(httpx.ReadTimeout):
        client.get(CHAIN, timeout=0.2)
    sim.set_faults({"slow": {"every": 1, "delay_s": 0.05}})
    assert client.get(CHAIN).status_code == 200  # slow, but it arrives
    assert sim.counters()["faults"]["slow"] == 2


def test_connection_reset(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"reset": {"every": 1}})
    with pytest.raises(httpx.TransportError):
        client.get(CHAIN)
    sim.set_faults({})
    assert client.get(CHAIN).status_code == 200  # the client reconnects
    assert sim.counters()["requests"]["/api/option-chain-v3"]["reset"] == 1


def test_br_body_is_undecodable(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"br": {"every": 1}})
    try:
        r = client.get(CHAIN)
    except httpx.DecodingError:
        return  # a client with a Brotli decoder rejects the bytes outright
    assert r.headers["content-encoding"] == "br"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)


def test_stale_repeats_the_previous_snapshot(sim: Simulator, client: httpx.Client) -> None:
    first = client.get(CHAIN)
    sim.set_clock("2026-11-25T11:03:00")
    sim.set_faults({"stale": {"every": 1}})
    stale = client.get(CHAIN)
    assert stale.content == first.content
    assert stale.json()["records"]["timestamp"] == "25-Nov-2026 11:02:00"
    sim.set_faults({})
    fresh = client.get(CHAIN).json()
    assert fresh["records"]["timestamp"] == "25-Nov-2026 11:03:00"
    assert sim.counters()["faults"] == {"stale": 1}


def test_stale_needs_a_previous_snapshot(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"stale": {"every": 1}})
    assert client.get(CHAIN).json()["records"]["data"]
    assert sim.counters()["faults"] == {}


def test_time_windows_use_the_simulated_clock(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"empty": {"windows": [["11:00", "11:05"]]}})
    assert client.get(CHAIN).content == b"{}"
    sim.set_clock("2026-11-25T11:06:00")
    assert client.get(CHAIN).json()["records"]["data"]


def test_probability_is_seeded_and_partial(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"empty": 0.5})
    first = [client.get("/api/marketStatus").content == b"{}" for _ in range(40)]
    assert 0 < sum(first) < 40
    sim.set_faults({"empty": 0.5})  # replacing the plan restarts its seeded draws
    assert [client.get("/api/marketStatus").content == b"{}" for _ in range(40)] == first


def test_paths_limit_a_fault(sim: Simulator, client: httpx.Client) -> None:
    sim.set_faults({"error_5xx": {"every": 1, "paths": ["/api/marketStatus"]}})
    assert client.get(CHAIN).status_code == 200
    assert client.get("/api/marketStatus").status_code == 503


def test_faults_from_the_constructor_and_reset() -> None:
    config = SimConfig(speed=0, start=START, faults={"empty": FaultSpec(every=1)})
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/")
        assert c.get(CHAIN).content == b"{}"
        sim.set_faults({})
        assert c.get(CHAIN).json()["records"]["data"]
        sim.reset()  # back to the configured faults, counters zeroed
        assert sim.counters()["requests_total"] == 0
        assert c.get(CHAIN).content == b"{}"


def test_admin_endpoints(sim: Simulator, client: httpx.Client) -> None:
    r = client.post("/__admin/faults", json={"error_5xx": {"every": 1}})
    assert r.status_code == 200 and r.json()["faults"]["error_5xx"]["every"] == 1
    assert client.get(CHAIN).status_code == 503
    assert client.get("/__admin/faults").json()["faults"]["error_5xx"]["status"] == 503
    bad = client.post("/__admin/faults", json={"meteor": 1})
    assert bad.status_code == 400 and "meteor" in bad.json()["error"]
    assert client.post("/__admin/faults", content=b"not json").status_code == 400
    counters = client.get("/__admin/counters").json()
    assert counters["faults"] == {"error_5xx": 1}
    assert counters["requests"]["/api/option-chain-v3"] == {"503": 1}
    assert counters["bootstraps"] == 1
    assert client.post("/__admin/reset").json() == {"ok": True}
    assert client.get("/__admin/counters").json()["requests_total"] == 0
    assert client.get(CHAIN).status_code == 200  # reset restored the (empty) configured faults
    clock = client.post("/__admin/clock", json={"time": "2026-11-25T16:00", "speed": 0}).json()
    assert clock["timestamp"] == "25-Nov-2026 15:30:00" and clock["marketOpen"] is False
    assert client.get("/__admin/nothing").status_code == 404


def test_fault_specs_validate() -> None:
    with pytest.raises(ValueError, match="probability"):
        parse_faults({"empty": 2})
    with pytest.raises(ValueError, match="unknown fields"):
        parse_faults({"empty": {"often": True}})
    with pytest.raises(ValueError, match="5xx"):
        parse_faults({"error_5xx": {"status": 404}})
