"""The crash loop, small: one SIGKILL per aimed window, restart, nothing lost/duplicated/corrupt.

``make chaos`` runs the same loop with 50+ kills (``python -m nsechain.chaos --kills 50``); see
``nsechain/chaos/crashloop.py`` for how each kind of kill is aimed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nsechain.chaos.checks import check_store, temp_files
from nsechain.chaos.crashloop import CrashConfig, run_crash_loop
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store import crashpoints
from nsechain.store.paths import list_tick_files


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # Ten simulated seconds per wall second: every tick (0.5 s) sees a new NSE timestamp.
    with Simulator(SimConfig(seed=3, speed=10, start="2026-11-25T09:20:00")) as s:
        yield s


def test_one_kill_in_each_window_loses_duplicates_and_corrupts_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    cfg = CrashConfig(tmp_path, kills=4, seed=7, kinds=("fetch", "write", "load", "move"))
    result = run_crash_loop(cfg, sim)
    summary = result.summary()
    assert sorted(k.kind for k in result.kills) == ["fetch", "load", "move", "write"]
    assert all(k.aimed for k in result.kills), summary  # each kill hit its window
    assert all(k.swept for k in result.kills), summary  # the restart removed its temp files
    assert next(k for k in result.kills if k.kind == "write").temp_left >= 1  # a half-written file
    assert result.final_rc == 0, (tmp_path / "logs" / "run_final.log").read_text()[-3000:]
    store = result.store
    assert store is not None
    assert store.problems() == [], summary
    assert store.duplicates == 0 and store.corrupt == [] and store.temp_left == []
    assert store.pending_files == 0 and store.processed_files >= 3
    assert store.db_rows == store.file_rows > 0  # each snapshot was written to one file only
    assert store.db_fetch_rows == store.file_fetch_rows > 0
    assert store.manifest_files == store.processed_files
    assert result.ok
    assert "verdict            PASS" in summary


def test_a_reader_storm_during_the_crash_loop_loses_and_duplicates_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    """``make chaos``'s storm scenario, small: kills at the load and move windows (a load
    killed while its flag is up leaves a flag of a dead PID, which readers must ignore)."""
    cfg = CrashConfig(tmp_path, kills=2, seed=11, kinds=("load", "move"), readers=8)
    result = run_crash_loop(cfg, sim)
    summary = result.summary()
    assert result.ok, summary
    assert result.reads["reads"] > 0, summary  # the storm read all along
    store = result.store
    assert store is not None and store.duplicates == 0 and store.missing_keys == 0
    assert store.db_rows == store.file_rows > 0
    assert "reader storm       8 readers" in summary and "verdict            PASS" in summary


def test_check_store_catches_what_it_promises_to(tmp_path: Path) -> None:
    """The checker itself: a torn file under a final name, a temp file, a file never loaded."""
    data = tmp_path / "data"
    day = data / "options_parquet" / "20261125"
    day.mkdir(parents=True)
    (day / "tick_20261125T092000_0123abcd.parquet").write_bytes(b"PAR1 torn")
    (day / ".tmp-tick_20261125T092100_0123abce.parquet.1234abcd").write_bytes(b"")
    report = check_store(data, tmp_path / "absent.duckdb")
    assert len(report.corrupt) == 1 and "tick_20261125T092000" in report.corrupt[0]
    temp = "options_parquet/20261125/.tmp-tick_20261125T092100_0123abce.parquet.1234abcd"
    assert report.temp_left == [temp]
    assert not report.ok
    assert temp_files(data) and list_tick_files(data / "options_parquet")


def test_pause_point_is_inert_unless_named() -> None:
    assert os.environ.get("NSECHAIN_CHAOS_PAUSE") is None
    for point in crashpoints.POINTS:
        assert crashpoints.pause_point(point) is None  # returns at once (else pytest-timeout fires)


def test_pause_point_stops_at_the_named_point_and_marks_it(tmp_path: Path) -> None:
    mark = tmp_path / "marks"
    env = {
        **os.environ,
        "NSECHAIN_CHAOS_PAUSE": "load",
        "NSECHAIN_CHAOS_SKIP": "1",
        "NSECHAIN_CHAOS_PAUSE_S": "0",
        "NSECHAIN_CHAOS_MARK": str(mark),
    }
    code = (
        "from nsechain.store.crashpoints import pause_point\n"
        "for p in ('write', 'load', 'move', 'load', 'load'): pause_point(p)\n"
        "import os; print(os.getpid())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, check=True, text=True
    )
    pid = out.stdout.strip()
    # Skipped the first "load", stopped at the second, and only there.
    assert mark.read_text().splitlines() == [f"load {pid}"]
