"""Shared test fixtures: the real NSE responses in ../shared/fixtures/nse, and settings."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from nsechain.collector.workers import StopToken
from nsechain.config import Settings, load_settings
from nsechain.sim.server import Simulator

#: Real NSE responses live beside the project checkout; tests never copy them in.
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "nse"


@pytest.fixture(autouse=True)
def _isolated_from_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: no NSECHAIN_* variable from the developer's shell, no local nsechain.toml.

    Settings read both; a test sets what it needs (monkeypatch.setenv, a TOML in tmp_path).
    Runs in each test's own tmp_path, so a stray nsechain.toml in the checkout is not seen.
    """
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("NSECHAIN_"):
            monkeypatch.delenv(key)


def fixture_bytes(name: str) -> bytes:
    """Bytes of a real NSE fixture, or skip the test with a message saying where it should be."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"NSE fixture {name} not found at {FIXTURES} (clone shared/ beside the repo)")
    return path.read_bytes()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A CLI command run in-process (CliRunner) routes nsechain's logger to its own stream,
    closed afterwards, and stops propagation (caplog would miss later records): undo it."""
    root = logging.getLogger("nsechain")
    saved = (root.handlers[:], root.propagate, root.level)
    yield
    root.handlers[:], root.propagate = saved[0], saved[1]
    root.setLevel(saved[2])


@pytest.fixture
def nse_fixture() -> object:
    return fixture_bytes


def e2e_settings(tmp_path: Path, base_url: str, **kw: Any) -> Settings:
    defaults: dict[str, Any] = {
        "base_url": base_url,
        "data_dir": tmp_path / "data",
        "db_path": tmp_path / "chain.duckdb",
        "symbols": "NIFTY,RELIANCE,M&M",
        "expiries_per_symbol": 2,
        "interval_s": 1.0,
        "batch_interval_s": 2.0,
        "status_interval_s": 0.2,
        "ignore_market_hours": True,
        "rate": 100.0,
        "burst": 10,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.2,
        "timeout_s": 5.0,
    }
    return load_settings(**{**defaults, **kw})


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class SimTime:
    """The collector's clock in a test: the simulator's date and time, paced in wall seconds.

    A test that pins the simulator to a date hands this to the collector, the manager and the
    dashboard, so nothing reads today's date (and NSE's timestamps are judged on its day).
    Waits (tick intervals) stay wall seconds, as with the wall clock, whatever the simulator's
    speed: a simulated minute per second at speed 60.
    """

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return self._sim.now()

    def wait(self, stop: StopToken, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


# Every page keeps what the CSP refused in window.__csp and says it as a console error (which
# lands in page.problems): a style attribute or <style> block would show here.
CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const what = e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '');
  window.__csp.push(what);
  console.error('CSP violation: ' + what);
});
"""
