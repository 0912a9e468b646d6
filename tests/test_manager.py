"""The manager's lifecycle: waiting for the market, restarting a dead thread, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import SimTime, e2e_settings, wait_for
from nsechain import OptionsThreadedManager
from nsechain.chaos.spawn import sim_clock_env
from nsechain.collector.status import read_status
from nsechain.collector.tick import TickResult
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.paths import list_tick_files


class ClosedMarket:
    """A market that stays closed; opens in an hour."""

    def __init__(self) -> None:
        self.opens = datetime.now().astimezone() + timedelta(hours=1)

    def is_open(self, now: datetime) -> bool:
        return False

    def next_open(self, now: datetime) -> datetime:
        return self.opens


class ClosedByNse:
    """Open by the list on hand, closed by NSE's (a closure announced at short notice)."""

    def provisional_open(self, now: datetime) -> bool:
        return True

    def is_open(self, now: datetime) -> bool:
        return False

    def next_open(self, now: datetime) -> datetime:
        return now + timedelta(hours=1)


class ClosesAtTheStart(ClosedByNse):
    """Open when the collector starts, closed from the next instant on (a start at 15:29:59)."""

    def provisional_open(self, now: datetime) -> bool:
        self.closes = now
        return True

    def is_open(self, now: datetime) -> bool:
        return now <= self.closes


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, speed=60, start="2026-11-25T10:00:00")) as s:
        yield s


def test_closed_market_waits_says_until_when_and_stops_at_once(tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, "http://127.0.0.1:9", ignore_market_hours=False)
    market = ClosedMarket()
    m = OptionsThreadedManager(settings, market=market)
    m.start_all_threads()
    try:
        wait_for(lambda: m.state.startswith("market closed"))
        assert market.opens.isoformat(timespec="minutes") in m.state
        wait_for(lambda: (read_status(settings.status_path) or {}).get("state") == m.state)
    finally:
        started = time.monotonic()
        assert m.stop_all_threads(timeout=20)
    assert time.monotonic() - started < 15  # the hour-long wait was interrupted, not served
    assert m.get_thread_status()["collection_thread"]["ticks"] == 0


@pytest.mark.parametrize("closed_all_day", [True, False])
def test_an_early_start_that_nse_list_closes_ends_without_an_after_close_look(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, closed_all_day: bool
) -> None:
    # closed_all_day: NSE's list closes the day the list on hand opens; else the close came
    # while the calendar was asking NSE, and the after-close look is taken as at any close.
    settings = e2e_settings(
        tmp_path, sim.base_url, ignore_market_hours=False, after_close_snapshot=True
    )
    market = ClosedByNse() if closed_all_day else ClosesAtTheStart()
    m = OptionsThreadedManager(settings, market=market, clock=SimTime(sim))
    looks: list[datetime] = []

    def after_close_look(at: datetime, stop: object = None) -> TickResult:
        looks.append(at)
        return TickResult(tick_at=at)

    m.collector.run_tick = after_close_look  # type: ignore[assignment]
    m.start_all_threads()
    try:
        wait_for(lambda: m.state.startswith("market closed"))
    finally:
        assert m.stop_all_threads(timeout=20)
    assert sim.stats.snapshot()["bootstraps"] == 1  # the early start took the session's cookies
    assert ("stopping the early start" in caplog.text) is closed_all_day
    assert m.last_tick is not None  # what the early start fetched was flushed ...
    assert len(looks) == (0 if closed_all_day else 1)  # ... no after-close look on a closed day
    assert m.pool.mode is None


def test_a_crashed_collection_thread_is_restarted(sim: Simulator, tmp_path: Path) -> None:
    m = OptionsThreadedManager(
        e2e_settings(tmp_path, sim.base_url, symbols="NIFTY"), clock=SimTime(sim)
    )
    real: Callable[..., TickResult] = m.collector.flush
    calls = {"n": 0}

    def flaky(*args: object, **kw: object) -> TickResult:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected crash")
        return real(*args, **kw)

    m.collector.flush = flaky  # type: ignore[method-assign]
    m.start_all_threads()
    try:
        wait_for(lambda: m.get_thread_status()["collection_thread"]["ticks"] >= 2)
        st = m.get_thread_status()["collection_thread"]
        assert st["restarts"] == 1 and st["alive"]
    finally:
        assert m.stop_all_threads(timeout=20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_gracefully_and_drain(sim: Simulator, tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    args = [
        sys.executable, "-m", "nsechain", "collect", "--no-live", "--base-url", sim.base_url,
        "--data-dir", str(data), "--db", str(tmp_path / "c.duckdb"), "--symbols", "NIFTY",
        "--interval", "30", "--batch-interval", "60",  # 30 clock s = 0.5 wall s at 60x
        "--rate", "100", "--ignore-market-hours",
    ]  # fmt: skip
    with (tmp_path / "log").open("wb") as log:
        # The simulator replays 2026-11-25: the child lives on its clock, not today's.
        env = {**os.environ, **sim_clock_env(sim.base_url)}
        proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    try:
        wait_for(lambda: len(list_tick_files(data / "options_parquet")) >= 2)
        proc.send_signal(sig)
        assert proc.wait(30) == 0, (tmp_path / "log").read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # The batch interval never came round: the final load on stop loaded everything.
    assert list_tick_files(data / "options_parquet") == []
    st = read_status(data / "status.json")
    assert st is not None and st["state"] == "stopped"
    assert st["batch_thread"]["rows_loaded"] > 0
