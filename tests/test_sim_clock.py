"""The simulated clock: accelerated time moves NSE's timestamp; outside market hours the chain
is frozen at the last close."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from nsechain.sim.clock import SimClock, snapshot_at
from nsechain.sim.server import SimConfig, Simulator
from nsechain.timeutil import IST

CHAIN = "/api/option-chain-v3?type=Equity&symbol=TCS&expiry=29-Dec-2026"


def ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


@pytest.mark.parametrize(
    ("now", "stamp", "is_open"),
    [
        ("2026-11-25T10:11:12.900", "2026-11-25T10:11:12", True),
        ("2026-11-25T09:15:00", "2026-11-25T09:15:00", True),
        ("2026-11-25T09:14:59", "2026-11-23T15:30:00", False),  # 24th is a holiday
        ("2026-11-25T15:30:00", "2026-11-25T15:30:00", False),
        ("2026-11-25T23:00:00", "2026-11-25T15:30:00", False),
        ("2026-11-28T12:00:00", "2026-11-27T15:30:00", False),  # Saturday
        ("2026-11-24T12:00:00", "2026-11-23T15:30:00", False),  # Guru Nanak Jayanti
    ],
)
def test_snapshot_rules(now: str, stamp: str, is_open: bool) -> None:
    snap = snapshot_at(ist(now))
    assert snap.at == ist(stamp) and snap.is_open is is_open
    assert snap.day == snap.at.date()
    assert 0 <= snap.elapsed <= 22500


def test_clock_speed_and_jumps() -> None:
    clock = SimClock(ist("2026-11-25T10:00:00"), speed=0)
    assert clock.now() == ist("2026-11-25T10:00:00")  # speed 0: stopped
    clock.set(ist("2026-11-25T12:00:00"), speed=3600)
    time.sleep(0.01)
    assert clock.now() > ist("2026-11-25T12:00:00")
    with pytest.raises(ValueError):
        clock.set(speed=-1)
    naive = SimClock(datetime(2026, 11, 25, 9, 14), speed=0)  # naive means IST
    assert naive.now() == ist("2026-11-25T09:14:00")


def get_chain(client: httpx.Client) -> dict[str, object]:
    body: dict[str, object] = client.get(CHAIN).json()["records"]
    return body


def test_accelerated_speed_moves_nse_timestamps() -> None:
    config = SimConfig(speed=3600, start="2026-11-25T10:00:00")
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        first = get_chain(c)["timestamp"]
        time.sleep(0.05)  # 3 simulated minutes
        second = get_chain(c)["timestamp"]
    assert isinstance(first, str) and isinstance(second, str)
    parse = "%d-%b-%Y %H:%M:%S"
    assert datetime.strptime(second, parse) > datetime.strptime(first, parse)


def test_chain_freezes_after_the_close() -> None:
    config = SimConfig(speed=600, start="2026-11-25T15:29:59")
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        time.sleep(0.05)  # 30 simulated seconds: past 15:30
        frozen = c.get(CHAIN).content
        time.sleep(0.05)
        again = c.get(CHAIN).content
        status = c.get("/api/marketStatus").json()["marketState"][0]
    assert frozen == again
    assert b'"timestamp":"25-Nov-2026 15:30:00"' in frozen
    assert status["marketStatus"] == "Closed"


def test_before_the_open_the_previous_close_is_served() -> None:
    config = SimConfig(speed=0, start="2026-11-25T09:14:00")
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        assert get_chain(c)["timestamp"] == "23-Nov-2026 15:30:00"
        assert c.get("/api/marketStatus").json()["marketState"][0]["marketStatus"] == "Closed"
        sim.set_clock("2026-11-25T09:20:00")
        assert get_chain(c)["timestamp"] == "25-Nov-2026 09:20:00"
        assert c.get("/api/marketStatus").json()["marketState"][0]["marketStatus"] == "Open"


def test_same_seed_serves_identical_bytes() -> None:
    def fetch(seed: int) -> bytes:
        config = SimConfig(seed=seed, speed=0, start="2026-11-25T13:45:10")
        with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
            c.get("/option-chain")
            return c.get(CHAIN).content

    assert fetch(21) == fetch(21)
    assert fetch(21) != fetch(22)


def test_prewarm_serves_and_stops_cleanly() -> None:
    config = SimConfig(speed=0, start="2026-11-25T10:00:00", prewarm=True)
    with Simulator(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        assert get_chain(c)["data"]
    with Simulator(config):
        pass  # stopping while the warm-up runs
