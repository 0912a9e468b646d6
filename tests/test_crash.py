"""SIGKILL the collector process mid-run, restart it: nothing corrupt, lost or duplicated."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from nsechain.chaos.spawn import sim_clock_env
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.paths import list_temp_files, list_tick_files


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=3, speed=60, start="2026-11-25T09:20:00")) as s:
        yield s


def collector(sim: Simulator, root: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NSECHAIN_BURST": "10",
        "NSECHAIN_BACKOFF_BASE_S": "0.01",
        "NSECHAIN_STATUS_INTERVAL_S": "0.2",
        **sim_clock_env(sim.base_url),  # the simulator replays 2026-11-25: live on its clock
    }
    args = [
        sys.executable, "-m", "nsechain", "collect", "--no-live",
        "--base-url", sim.base_url,
        "--data-dir", str(root / "data"),
        "--db", str(root / "chain.duckdb"),
        "--symbols", "NIFTY,RELIANCE,M&M",
        "--interval", "30",  # clock seconds: 0.5 s of wall time at the simulator's 60x
        "--batch-interval", "1",
        "--rate", "100",
        "--ignore-market-hours",
        *extra,
    ]  # fmt: skip
    with (root / "collector.log").open("ab") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen(args, env=env, cwd=root, stdout=log, stderr=log)


def tick_files(root: Path) -> int:
    data = root / "data"
    return len(list_tick_files(data / "options_parquet")) + len(
        list_tick_files(data / "options_processed")
    )


def test_sigkill_mid_run_then_restart_loses_and_duplicates_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    rng = random.Random(42)
    kills = 0
    for _ in range(3):
        seen = tick_files(tmp_path)
        proc = collector(sim, tmp_path)
        deadline = time.monotonic() + 60
        while tick_files(tmp_path) < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))  # land somewhere in a fetch, a write or a load
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills += 1
    assert tick_files(tmp_path) >= 6, "the collector never got going"

    # Restart: one clean tick and load recovers whatever the kills left behind.
    done = collector(sim, tmp_path, "--once")
    assert done.wait(120) == 0, (tmp_path / "collector.log").read_text()[-3000:]

    data = tmp_path / "data"
    assert list_temp_files(data / "options_parquet") == []
    assert list_tick_files(data / "options_parquet") == []
    processed = list_tick_files(data / "options_processed")
    for path in processed:
        pq.read_table(path)  # raises on a corrupt or partial file

    con = duckdb.connect(str(tmp_path / "chain.duckdb"), read_only=True)
    try:
        dups = con.execute(
            "SELECT count(*) FROM (SELECT 1 FROM option_quotes GROUP BY symbol, expiry, strike, "
            "option_type, exchange_ts HAVING count(*) > 1)"
        ).fetchone()
        missing = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT symbol, expiry, exchange_ts FROM "
            "read_parquet($files) EXCEPT SELECT DISTINCT symbol, expiry, exchange_ts "
            "FROM option_quotes)",
            {"files": [str(p) for p in processed]},
        ).fetchone()
        manifest = con.execute("SELECT count(*) FROM loaded_files").fetchone()
    finally:
        con.close()
    assert kills == 3
    assert dups == (0,)
    assert missing == (0,), "a snapshot written to Parquet never reached DuckDB"
    assert manifest == (len(processed),)
