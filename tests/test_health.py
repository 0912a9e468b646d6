"""The one verdict (recording / degraded / not recording) from the collector's own counters.

A collector against a dead port says ``not recording`` with NSE's error before its first
interval ends (so well within two); against the simulator it says ``recording``; stopped, it
says so. ``nsechain status`` shows the same verdict and exits 0 / 1 / 2, also with ``--json``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from conftest import SimTime, e2e_settings, wait_for
from nsechain import OptionsThreadedManager
from nsechain.cli.main import app
from nsechain.collector.health import (
    HealthCounters,
    VerdictTracker,
    current_verdict,
    judge,
)
from nsechain.collector.status import read_status, write_status
from nsechain.sim.server import SimConfig, Simulator
from nsechain.timeutil import IST

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=IST)


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A port that is bound but not listening: every connect is refused, at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=7, speed=60, start="2026-11-25T10:00:00")) as s:
        yield s


def status_cli(data_dir: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["status", "--data-dir", str(data_dir), *extra], env=WIDE)
    return result.exit_code, result.output


def written_verdict(path: Path) -> dict[str, Any]:
    return (read_status(path) or {}).get("verdict") or {}


def test_dead_port_is_not_recording_before_the_first_interval_ends(
    dead_url: str, tmp_path: Path
) -> None:
    settings = e2e_settings(tmp_path, dead_url, interval_s=60.0, symbols="NIFTY")
    m = OptionsThreadedManager(settings)
    m.start_all_threads()
    try:
        wait_for(
            lambda: (
                "NSE is not answering" in written_verdict(settings.status_path).get("reason", "")
            )
        )
        st = read_status(settings.status_path)
        assert st is not None
        # Not a word from the last load: the first interval (60 s) has not even been written.
        assert st["collection_thread"]["ticks"] == 0
        assert st["verdict"]["verdict"] == "not recording"
        assert "Connection refused" in st["verdict"]["reason"]
        assert st["health"]["consecutive_failures"] >= 1
        assert st["health"]["last_success_at"] is None

        code, out = status_cli(settings.data_dir)
        assert code == 2, out
        assert out.splitlines()[0].startswith("● not recording since ")
        assert "NSE is not answering" in out.splitlines()[0]
        code, out = status_cli(settings.data_dir, "--json")
        doc = orjson.loads(out)
        assert code == 2 and doc["verdict"] == "not recording" and doc["exit_code"] == 2
        assert "Connection refused" in doc["reason"] and doc["health"]["failed"] >= 1
    finally:
        assert m.stop_all_threads(timeout=20)


def test_simulator_is_recording_then_stopped(sim: Simulator, tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, sim.base_url, symbols="NIFTY,RELIANCE")
    m = OptionsThreadedManager(settings, clock=SimTime(sim))
    m.start_all_threads()
    try:
        wait_for(lambda: written_verdict(settings.status_path).get("verdict") == "recording")
        verdict = m.get_thread_status()["verdict"]
        assert verdict["verdict"] == "recording", verdict
        code, out = status_cli(settings.data_dir)
        assert code == 0, out
        assert out.startswith("● recording since ")
        code, out = status_cli(settings.data_dir, "--json")
        assert code == 0 and orjson.loads(out)["verdict"] == "recording", out
    finally:
        assert m.stop_all_threads(timeout=20)
    code, out = status_cli(settings.data_dir)
    assert code == 2, out
    assert "not recording" in out.splitlines()[0] and "stopped" in out.splitlines()[0]


def test_a_status_nobody_writes_any_more_is_not_recording(tmp_path: Path) -> None:
    path = tmp_path / "data" / "status.json"
    old = {"updated_at": "2026-11-25T10:00:00+05:30", "state": "collecting", "pid": 42}
    old["verdict"] = {"verdict": "recording", "reason": "fine", "since": None}
    now = T0 + timedelta(minutes=5)
    v = current_verdict(old, now=now, stale_after=30, where=str(path))
    assert v["verdict"] == "not recording" and v["exit_code"] == 2
    assert "last written 300 s ago (pid 42" in v["reason"]
    assert current_verdict(None, now=now, stale_after=30, where="x")["exit_code"] == 2
    assert current_verdict({}, now=now, stale_after=30, where="x")["exit_code"] == 2
    write_status(path, {})  # a status of the wrong shape: said, never a traceback
    code, out = status_cli(path.parent)
    assert code == 2 and "collector status ignored" in out, out


def status(**health: Any) -> dict[str, Any]:
    """A status in session with a recent success, overridden by ``health`` and extra parts."""
    parts = {
        k: health.pop(k)
        for k in list(health)
        if k in ("collection_thread", "batch_thread", "database", "state", "settings")
    }
    h = {
        "window_s": 300.0,
        "outcomes": {"ok": 100},
        "requests": 100,
        "failed": 0,
        "consecutive_failures": 0,
        "success_age_s": 1.0,
        "snapshot_age_s": 1.0,
        "running_s": 600.0,
        "last_error": None,
        **health,
    }
    return {
        "state": "collecting",
        "settings": {"interval_s": 60.0, "rate": 3.0},
        "collection_thread": {"alive": True, "effective_rate": 3.0, "backlog_ticks": 0},
        "batch_thread": {"alive": True, "last_error": None},
        "symbols": {"NIFTY": {"last_outcome": "ok"}},
        "health": h,
        **parts,
    }


@pytest.mark.parametrize(
    ("st", "verdict", "words"),
    [
        (status(), "recording", "1 of 1 symbols answering"),
        (
            status(outcomes={"ok": 80, "timeout": 20}, failed=20, last_error="timed out"),
            "degraded",
            "20 of 100 requests failed",
        ),
        (
            status(collection_thread={"alive": True, "backlog_ticks": 3}),
            "degraded",
            "3 interval(s) held in memory",
        ),
        (
            status(database={"healthy": False, "error": "truncated file"}),
            "degraded",
            "database unhealthy: truncated file",
        ),
        (
            status(collection_thread={"alive": True, "ticks_dropped": 2}),
            "degraded",
            "2 interval(s) dropped",
        ),
        (
            status(collection_thread={"alive": True, "effective_rate": 1.5}),
            "degraded",
            "cut to 1.50 of 3 req/s",
        ),
        (
            status(batch_thread={"alive": True, "last_error": "disk full"}),
            "degraded",
            "loading into DuckDB fails: disk full",
        ),
        (status(snapshot_age_s=900.0), "degraded", "timestamps have not moved"),
        (
            status(success_age_s=200.0, consecutive_failures=7, last_error="refused"),
            "not recording",
            "NSE is not answering: refused (7 failures",
        ),
        (
            status(success_age_s=None, snapshot_age_s=None, running_s=5.0),
            "not recording",
            "starting",
        ),
        (
            status(collection_thread={"alive": False, "last_error": "boom"}),
            "not recording",
            "collection thread is down (boom)",
        ),
        (
            status(state="paused after a 403 block until 10:10"),
            "not recording",
            "paused after a 403 block",
        ),
        (
            status(state="market closed; waiting until 2026-11-26T09:15"),
            "recording",
            "nothing to record until then",
        ),
        (
            status(
                state="market closed; waiting until x", consecutive_failures=9, last_error="dns"
            ),
            "degraded",
            "did not answer 9 requests",
        ),
        (status(state="stopped"), "not recording", "stopped"),
    ],
)
def test_judge(st: dict[str, Any], verdict: str, words: str) -> None:
    judged = judge(st)
    assert judged.verdict == verdict
    assert words in judged.reason


def test_counters_keep_the_window_the_streak_and_the_last_success() -> None:
    now = [T0]
    h = HealthCounters(lambda: now[0], monotonic=lambda: now[0].timestamp())  # noqa: PLW0108
    h.record("ok")
    for _ in range(3):
        now[0] += timedelta(seconds=10)
        h.record("timeout", "read timed out", chain=False)
    r = h.report()
    assert r["outcomes"] == {"ok": 1, "timeout": 3} and r["failed"] == 3
    assert r["consecutive_failures"] == 3 and r["last_error"] == "read timed out"
    assert r["last_snapshot_at"] == T0.isoformat() and r["success_age_s"] == 30.0
    now[0] += timedelta(minutes=5, seconds=1)  # all but the last failure leave the window
    h.record("stale")
    r = h.report()
    assert r["outcomes"] == {"stale": 1} and r["consecutive_failures"] == 0
    assert r["last_snapshot_at"] == T0.isoformat()  # stale: no new snapshot
    assert h.take_interval() == {"ok": 1, "timeout": 3, "stale": 1}
    assert h.take_interval() == {}


def test_the_tracker_says_each_change_once_and_keeps_since() -> None:
    said: list[tuple[str, str]] = []
    t = VerdictTracker(lambda v, r, _prev: said.append((v, r.split(":")[0])))
    starting = status(success_age_s=None, snapshot_age_s=None, running_s=1.0)
    failing = status(success_age_s=None, consecutive_failures=1, last_error="refused")
    v0 = t.update(starting, T0)
    for k in range(5):
        v1 = t.update(failing, T0 + timedelta(seconds=k + 1))
    assert v1["since"] == v0["since"] == T0.isoformat(timespec="seconds")
    t.update(status(), T0 + timedelta(seconds=10))
    t.update(status(), T0 + timedelta(seconds=12))
    stopped = t.update(status(state="stopped"), T0 + timedelta(seconds=20))
    assert (
        stopped["exit_code"] == 2 and stopped["since"] == (T0 + timedelta(seconds=20)).isoformat()
    )
    assert said == [
        ("not recording", "NSE is not answering"),
        (
            "recording",
            "100 requests in the last 300 s, 0 failed; last new snapshot 1 s ago; "
            "1 of 1 symbols answering",
        ),
        ("not recording", "stopped"),
    ]


def test_fifty_identical_failures_are_a_few_lines_with_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The client's fetch line for a dead NSE, 50 times over 90 s, for several symbols."""
    from nsechain.logs import RepeatCollapser, configure_logging, flush_repeats

    configure_logging("INFO", "text")
    handler = logging.getLogger("nsechain").handlers[0]
    clock = [0.0]
    collapser = RepeatCollapser(60.0, clock=lambda: clock[0])
    handler.filters[:] = [collapser]
    client = logging.getLogger("nsechain.nse.client")
    try:
        for n in range(50):
            clock[0] = n * 1.8
            client.warning(
                "fetch endpoint=option-chain-v3 symbol=%s expiry=2026-12-01 status=- "
                "outcome=http_error ms=%d bytes=0 attempt=%d error=%r",
                ("NIFTY", "BANKNIFTY", "M&M")[n % 3],
                n,
                n % 3 + 1,
                "cannot connect to 127.0.0.1 ([Errno 111] Connection refused)",
            )
            logging.getLogger("nsechain.collector.manager").info("interval n=%d", n)
        flush_repeats(force=True)
    finally:
        logging.getLogger("nsechain").handlers.clear()
    lines = [line for line in capsys.readouterr().err.splitlines() if "fetch " in line]
    assert len(lines) == 3, lines  # the first, the first after a minute, what was held at the end
    assert "(+" not in lines[0]
    assert "(+33 like it in the last 61 s: symbols BANKNIFTY, M&M, NIFTY)" in lines[1]
    assert "(+15 like it in the last 27 s" in lines[2]
    # Every failure is told: two lines themselves, 48 counted in them.
    assert sum(int(line.split("(+")[1].split()[0]) for line in lines[1:]) + 2 == 50
