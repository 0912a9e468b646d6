"""Each of NSE's failure modes, acted out by the simulator over loopback: the collector survives it.

For every fault class the test runs real ticks (``Collector.run_tick``) against a real
``Simulator``, checks that nothing escapes, that ``fetch_log`` (in the tick file and, after a
load, in DuckDB) classifies the failure with the right outcome, that bad bodies land in
quarantine with a reason sidecar, and that a later tick collects data again.

The simulated clock is frozen (speed 0) and moved one minute per tick, so every tick sees a new
NSE snapshot and nothing depends on how fast this machine is. The collector's clock is a
``FixedClock`` moved with it: nothing depends on today's date either.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from nsechain.collector.clock import FixedClock
from nsechain.collector.tick import Collector, TickResult
from nsechain.config import Settings, load_settings
from nsechain.errors import BadPayload
from nsechain.nse import endpoints
from nsechain.nse._responses import Call, classify
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.files import read_tick_fetch_log
from nsechain.store.loader import Loader
from nsechain.timeutil import IST

V3 = "/api/option-chain-v3"
CHAIN = "option-chain-v3"
SIM_START = datetime(2026, 11, 25, 10, 0, tzinfo=IST)  # a Wednesday; 24-Nov-2026 is a holiday


@dataclass
class Tick:
    result: TickResult
    log: list[dict[str, Any]]  # the tick file's fetch_log rows

    def chain_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.log if r["endpoint"] == CHAIN]

    def chain_outcomes(self) -> list[str]:
        return [r["outcome"] for r in self.chain_rows()]


class Bench:
    """A simulator with a frozen clock, a collector pointed at it, and one tick per minute."""

    def __init__(self, sim: Simulator, settings: Settings) -> None:
        self.sim = sim
        self.settings = settings
        self.sim_time = SIM_START
        self.clock = FixedClock(SIM_START)  # the collector lives in the simulator's time
        self.collector = Collector(settings, clock=self.clock)

    def tick(self, step: timedelta = timedelta(minutes=1)) -> Tick:
        self.sim_time += step
        self.sim.set_clock(start=self.sim_time)
        self.clock.set(self.sim_time)
        result = self.collector.run_tick(self.sim_time)  # must not raise, whatever NSE does
        assert result.path is not None, f"the tick wrote no file: {result.error}"
        return Tick(result, read_tick_fetch_log(result.path).to_pylist())

    def ok_tick(self) -> Tick:
        t = self.tick()
        assert t.result.quote_rows > 0, t.result
        assert set(t.chain_outcomes()) == {"ok"}, t.log
        return t

    def quarantined(self) -> list[tuple[Path, dict[str, Any]]]:
        bodies = sorted(self.settings.quarantine_dir.rglob("body_*.bin"))
        out = []
        for body in bodies:
            sidecar = body.with_name(body.name + ".reason.json")
            assert sidecar.is_file(), f"{body.name} has no reason sidecar"
            out.append((body, json.loads(sidecar.read_text())))
        return out

    def db_outcomes(self) -> Counter[tuple[str, str]]:
        """Load every pending tick file, then (endpoint, outcome) counts from DuckDB."""
        s = self.settings
        Loader(s.db_path, s.pending_dir, s.processed_dir, s.quarantine_dir).load_pending()
        con = duckdb.connect(str(s.db_path), read_only=True)
        try:
            rows = con.execute(
                "SELECT endpoint, outcome, count(*) FROM fetch_log GROUP BY ALL"
            ).fetchall()
        finally:
            con.close()
        return Counter({(e, o): n for e, o, n in rows})

    def close(self) -> None:
        self.collector.close()


def settings_for(tmp_path: Path, sim: Simulator, **kw: Any) -> Settings:
    defaults: dict[str, Any] = {
        "base_url": sim.base_url,
        "data_dir": tmp_path / "data",
        "db_path": tmp_path / "chain.duckdb",
        "symbols": "NIFTY,RELIANCE",
        "expiries_per_symbol": 1,
        "interval_s": 1.0,
        "ignore_market_hours": True,
        "rate": 200.0,
        "burst": 20,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 5.0,
        "block_cooloff_s": 0.2,
    }
    return load_settings(**{**defaults, **kw})


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=11, speed=0, start=SIM_START)) as s:
        yield s


@pytest.fixture
def bench(sim: Simulator, tmp_path: Path) -> Iterator[Bench]:
    b = Bench(sim, settings_for(tmp_path, sim))
    yield b
    b.close()


def wait_unpaused(c: Collector, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while c.client.paused_until is not None:
        assert time.monotonic() < deadline, "the client never resumed after its pause"
        time.sleep(0.05)


# --- failures retried, then given up on for this tick -------------------------------------------


def test_5xx_is_retried_then_logged_as_http_error(bench: Bench) -> None:
    bench.ok_tick()
    bench.sim.set_faults({"error_5xx": {"every": 1, "status": 502, "paths": [V3]}})
    t = bench.tick()
    rows = t.chain_rows()
    # Both pairs: the first attempt and one retry each, every one a 502.
    assert [(r["http_status"], r["outcome"]) for r in rows] == [(502, "http_error")] * 4
    assert sorted(r["attempt"] for r in rows) == [1, 1, 2, 2]
    assert t.result.quote_rows == 0 and t.result.outcomes == Counter(http_error=2)
    assert bench.quarantined() == []  # an error page is not a body to keep

    bench.sim.set_faults({"error_5xx": {"every": 2, "status": 503, "paths": [V3]}})
    t = bench.tick()  # every other request fails: each retry succeeds within the tick
    assert t.result.quote_rows > 0
    assert Counter(t.chain_outcomes()) == Counter(ok=2, http_error=1)
    assert [r["http_status"] for r in t.chain_rows() if r["outcome"] == "http_error"] == [503]

    bench.sim.set_faults({})
    bench.ok_tick()
    db = bench.db_outcomes()
    assert db[(CHAIN, "http_error")] == 5 and db[(CHAIN, "ok")] == 2 + 2 + 2


def test_empty_object_is_bad_payload_and_quarantined(bench: Bench) -> None:
    bench.ok_tick()
    bench.sim.set_faults({"empty": {"every": 1, "paths": [V3]}})
    t = bench.tick()
    assert [(r["http_status"], r["outcome"]) for r in t.chain_rows()] == [(200, "bad_payload")] * 4
    assert all("empty JSON object" in r["error"] for r in t.chain_rows())
    kept = bench.quarantined()
    assert len(kept) == 4  # every attempt's body is kept, none is parsed as data
    for body, reason in kept:
        assert body.read_bytes() == b"{}"
        assert reason["symbol"] in ("NIFTY", "RELIANCE") and "empty JSON object" in reason["reason"]
    bench.sim.set_faults({})
    bench.ok_tick()
    assert bench.db_outcomes()[(CHAIN, "bad_payload")] == 4


def test_truncated_json_is_bad_payload_and_quarantined(bench: Bench) -> None:
    bench.ok_tick()
    bench.sim.set_faults({"truncate": {"every": 1, "fraction": 0.6, "paths": [V3]}})
    t = bench.tick()
    assert set(t.chain_outcomes()) == {"bad_payload"} and len(t.chain_rows()) == 4
    assert t.result.quote_rows == 0
    kept = bench.quarantined()
    assert len(kept) == 4
    for body, reason in kept:
        assert body.read_bytes().startswith(b'{"records"')  # the cut body, byte for byte
        assert "not valid JSON" in reason["reason"] and reason["bytes"] == body.stat().st_size
        assert reason["expiry"] is not None
    bench.sim.set_faults({})
    bench.ok_tick()
    assert bench.db_outcomes()[(CHAIN, "bad_payload")] == 4


def test_br_encoded_body_is_bad_payload_and_quarantined(bench: Bench) -> None:
    bench.ok_tick()
    bench.sim.set_faults({"br": {"every": 1, "paths": [V3]}})
    t = bench.tick()
    assert [(r["http_status"], r["outcome"]) for r in t.chain_rows()] == [(200, "bad_payload")] * 4
    kept = bench.quarantined()
    assert len(kept) == 4
    for body, reason in kept:
        assert body.read_bytes()[:2] == b"\x1f\x8b"  # what NSE labelled "br": not Brotli
        assert "Content-Encoding 'br'" in reason["reason"] and "cut off" not in reason["reason"]
    bench.sim.set_faults({})
    bench.ok_tick()
    assert bench.sim.counters()["faults"]["br"] == 4


def test_slow_answer_times_out_and_is_retried(sim: Simulator, tmp_path: Path) -> None:
    b = Bench(sim, settings_for(tmp_path, sim, symbols="NIFTY", timeout_s=1.0))
    try:
        b.ok_tick()
        sim.set_faults({"slow": {"every": 1, "delay_s": 3.0, "paths": [V3]}})
        t = b.tick()
        rows = t.chain_rows()
        assert [(r["http_status"], r["outcome"], r["attempt"]) for r in rows] == [
            (None, "timeout", 1),
            (None, "timeout", 2),
        ]
        assert t.result.outcomes == Counter(timeout=1) and t.result.quote_rows == 0
        sim.set_faults({})
        b.ok_tick()
        assert b.db_outcomes()[(CHAIN, "timeout")] == 2
    finally:
        b.close()


def test_connection_reset_is_http_error_and_the_next_request_reconnects(bench: Bench) -> None:
    bench.ok_tick()
    bench.sim.set_faults({"reset": {"every": 1, "paths": [V3]}})
    t = bench.tick()
    rows = t.chain_rows()
    assert [(r["http_status"], r["outcome"]) for r in rows] == [(None, "http_error")] * 4
    assert all(r["error"] for r in rows)
    assert bench.sim.counters()["requests"][V3]["reset"] == 4
    bench.sim.set_faults({})
    bench.ok_tick()
    assert bench.db_outcomes()[(CHAIN, "http_error")] == 4


# --- answers that are not failures of the request --------------------------------------------


def test_stale_timestamp_writes_no_rows(bench: Bench) -> None:
    first = bench.ok_tick()
    first_ts = {r["symbol"]: r["exchange_ts"] for r in first.chain_rows()}
    bench.sim.set_faults({"stale": {"every": 1}})
    t = bench.tick()  # the clock moved a minute, NSE repeats the previous snapshot
    assert set(t.chain_outcomes()) == {"stale"} and len(t.chain_rows()) == 2
    assert {r["symbol"]: r["exchange_ts"] for r in t.chain_rows()} == first_ts
    assert all(r["rows"] == 0 and r["http_status"] == 200 for r in t.chain_rows())
    assert t.result.quote_rows == 0
    bench.sim.set_faults({})
    later = bench.ok_tick()
    assert all(r["exchange_ts"] > first_ts[r["symbol"]] for r in later.chain_rows())
    assert bench.db_outcomes()[(CHAIN, "stale")] == 2
    assert bench.quarantined() == []


def test_wrong_expiry_is_empty_and_refreshes_expiries(bench: Bench) -> None:
    bench.ok_tick()
    nifty = bench.collector.targets.universe.expiries["NIFTY"]
    # A stale expiry list (an old cache): NIFTY expires on Tuesdays, never on a Thursday.
    wrong = date(2026, 11, 26)
    assert wrong not in nifty
    bench.collector.targets.set_expiries("NIFTY", [wrong, *nifty], bench.clock.now())
    t = bench.tick()
    by_symbol = {r["symbol"]: r for r in t.chain_rows()}
    assert by_symbol["NIFTY"]["outcome"] == "empty" and by_symbol["NIFTY"]["http_status"] == 200
    assert by_symbol["NIFTY"]["expiry"] == wrong
    assert by_symbol["RELIANCE"]["outcome"] == "ok"  # one bad pair does not spoil the tick
    assert len(t.chain_rows()) == 2  # an empty chain is not retried as-is
    assert "NIFTY" in bench.collector.targets.universe.flagged
    assert bench.quarantined() == []

    # Next tick past the refresh gap: contract-info again, and the right expiry is fetched.
    t = bench.tick(timedelta(minutes=6))
    info = [r for r in t.log if r["endpoint"] == "option-chain-contract-info"]
    assert ("NIFTY", "ok") in [(r["symbol"], r["outcome"]) for r in info]
    assert bench.collector.targets.universe.expiries["NIFTY"][0] == nifty[0]
    nifty_rows = [r for r in t.chain_rows() if r["symbol"] == "NIFTY"]
    assert [(r["expiry"], r["outcome"]) for r in nifty_rows] == [(nifty[0], "ok")]
    assert bench.db_outcomes()[(CHAIN, "empty")] == 1


# --- gatekeeping: cookies and blocks ------------------------------------------------------------


def test_expired_cookies_get_401_then_one_rebootstrap(tmp_path: Path) -> None:
    # NSE's session cookies outlive our own re-bootstrap age only in theory: here the
    # simulator's expire after 2 s while the collector would keep them 30 minutes.
    config = SimConfig(seed=11, speed=0, start=SIM_START, cookie_max_age_s=2.0)
    with Simulator(config) as sim:
        b = Bench(sim, settings_for(tmp_path, sim, cookie_max_age_s=1800.0))
        try:
            b.ok_tick()
            assert sim.counters()["bootstraps"] == 1
            # Age the cookies without sleeping: the simulator's gate reads this clock.
            sim.gate.clock = lambda: time.time() + 3.0
            t = b.tick()
            chain = t.chain_rows()
            assert [(r["http_status"], r["outcome"], r["attempt"]) for r in chain] == [
                (401, "unauthorized", 1),
                (200, "ok", 2),
                (200, "ok", 1),
            ]
            assert [r["endpoint"] for r in t.log].count("bootstrap") == 1
            assert t.result.quote_rows > 0 and t.result.outcomes == Counter(ok=2)
            assert sim.counters()["bootstraps"] == 2
            b.ok_tick()
            assert b.db_outcomes()[(CHAIN, "unauthorized")] == 1
        finally:
            b.close()


def test_akamai_access_denied_pauses_the_client(sim: Simulator, tmp_path: Path) -> None:
    b = Bench(sim, settings_for(tmp_path, sim, block_cooloff_s=1.0))  # NSE's: ten minutes
    try:
        b.ok_tick()
        before = sim.counters()["requests"][V3]["200"]
        sim.set_faults({"block": {"every": 1, "paths": [V3]}})
        t = b.tick()
        rows = t.chain_rows()
        # One 403, then the client stops sending: the second pair is not even tried.
        assert [(r["symbol"], r["http_status"], r["outcome"]) for r in rows] == [
            ("NIFTY", 403, "blocked")
        ]
        assert "403" in (rows[0]["error"] or "")
        assert t.result.outcomes["blocked"] >= 1 and t.result.quote_rows == 0
        assert sim.counters()["requests"][V3] == {"200": before, "403": 1}
        assert b.collector.client.limiter.rate < b.settings.rate  # AIMD: halved
        assert b.quarantined() == []  # an error page, not a body to keep

        sim.set_faults({})
        wait_unpaused(b.collector)
        b.ok_tick()
        assert b.db_outcomes()[(CHAIN, "blocked")] == 1
    finally:
        b.close()


def test_rate_limit_block_pauses_then_recovers(tmp_path: Path) -> None:
    # The simulator allows a burst of 12 and 1 req/s after it. The collector's budget is 40
    # req/s: its first tick (bootstrap, universe, contract-info and all 18 NIFTY expiries) is
    # 21 requests, which trips the limit unless it took over 9 s. Halved to 20 req/s, the plan
    # is 10 pairs a tick: with the fresh bootstrap, 11 requests, within the burst.
    config = SimConfig(
        seed=11, speed=0, start=SIM_START, rate_limit=1.0, rate_burst=12, cool_off_s=1.0
    )
    with Simulator(config) as sim:
        s = settings_for(
            tmp_path, sim, symbols="NIFTY", expiries_per_symbol=0, rate=40.0, burst=40,
            block_cooloff_s=1.0,
        )  # fmt: skip
        b = Bench(sim, s)
        try:
            t = b.tick()
            blocked = [r for r in t.log if r["outcome"] == "blocked"]
            assert [(r["http_status"], r["endpoint"]) for r in blocked] == [(403, CHAIN)]
            assert t.result.outcomes["blocked"] >= 1
            assert t.result.outcomes["ok"] >= 1  # what came before the block is kept
            assert t.result.quote_rows > 0
            # One request refused (the one that tripped the limit), then the client paused:
            # nothing more was sent during the block.
            assert sim.counters()["rate_limit"] == {"blocks": 1, "refused": 1}
            assert b.collector.client.paused_until is not None
            assert b.collector.client.limiter.rate == pytest.approx(20.0)  # AIMD: halved

            wait_unpaused(b.collector)
            t = b.tick()
            assert t.result.quote_rows > 0
            assert set(t.chain_outcomes()) == {"ok"} and len(t.chain_rows()) == 10
            assert t.log[0]["endpoint"] == "bootstrap"  # a fresh session
            assert sim.counters()["rate_limit"]["blocks"] == 1
            db = b.db_outcomes()
            assert db[(CHAIN, "blocked")] == 1 and db[(CHAIN, "ok")] >= 11
        finally:
            b.close()


@pytest.mark.parametrize(
    ("encoding", "body", "flagged"),
    [
        ("br", b"\x1f\x8b\x08\x00garbage", True),  # left undecoded: a bad payload, named
        ("br", b'{"records": {}}', False),  # decoded after all (brotli installed): parse it
        ("identity", b"not json", False),  # asked for: the parser says what is wrong
        ("", b'{"records": {}}', False),
    ],
)
def test_unrequested_content_encoding_is_named(encoding: str, body: bytes, flagged: bool) -> None:
    call = Call(endpoints.OPTION_CHAIN_V3, "http://x/api/option-chain-v3", "NIFTY", None)
    headers = {"Content-Encoding": encoding} if encoding else {}
    failed = classify(call, httpx.Response(200, headers=headers, content=body), 1.0)
    if not flagged:
        assert failed is None
        return
    assert failed is not None and isinstance(failed.error, BadPayload)
    assert failed.error.body == body and "Content-Encoding 'br'" in str(failed.error)
