"""Lock contention: a notebook in another process holds the DuckDB file for several batches.

DuckDB lets one process at a time open a database file (DESIGN.md §6). While another process
holds it, the batch thread's loads fail with DatabaseLocked: it must say so clearly, keep
retrying, keep collecting (files pile up as pending), lose nothing, and catch up once the
file is released.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import SimTime
from nsechain import OptionsThreadedManager
from nsechain.chaos.checks import check_store
from nsechain.collector import batch as batch_module
from nsechain.config import load_settings
from nsechain.sim.server import SimConfig, Simulator

#: A user's notebook: opens the database read-write, runs a query, keeps the connection open.
HOLDER = """
import sys, time, duckdb
# The collector's own load may hold the file for a moment: retry like any other reader.
for _ in range(600):
    try:
        con = duckdb.connect(sys.argv[1])
        break
    except duckdb.IOException:
        time.sleep(0.05)
con.execute("SELECT count(*) FROM option_quotes").fetchall()
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
con.close()
"""


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, speed=60, start="2026-11-25T09:20:00")) as s:
        yield s


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@pytest.fixture
def manager_log() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("nsechain.collector")  # the manager and its batch thread
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_loads_wait_for_a_held_database_then_catch_up_losing_nothing(
    sim: Simulator, tmp_path: Path, manager_log: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retry as often as the batch interval, so a few seconds show several attempts.
    monkeypatch.setattr(batch_module, "LOAD_RETRY_S", 0.5)
    monkeypatch.setattr(batch_module, "LOAD_LOCK_WAIT_S", 0.0)  # refused at once
    settings = load_settings(
        base_url=sim.base_url,
        data_dir=tmp_path / "data",
        db_path=tmp_path / "chain.duckdb",
        symbols="NIFTY,RELIANCE",
        expiries_per_symbol=1,
        interval_s=0.5,
        batch_interval_s=0.5,
        status_interval_s=0.2,
        ignore_market_hours=True,
        rate=100.0,
        burst=10,
        backoff_base_s=0.01,
    )
    m = OptionsThreadedManager(settings, clock=SimTime(sim))

    def status(section: str, key: str) -> Any:
        return m.get_thread_status()[section][key]

    m.start_all_threads()
    holder: subprocess.Popen[str] | None = None
    try:
        wait_for(lambda: status("batch_thread", "rows_loaded") > 0, "a first load")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(settings.db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        waits, ticks, loaded = (
            status("batch_thread", "lock_waits"),
            status("collection_thread", "ticks"),
            status("batch_thread", "files_loaded"),
        )

        # Held for several batch intervals: loads keep failing and are retried, ticks go on.
        wait_for(lambda: status("batch_thread", "lock_waits") >= waits + 4, "4 refused loads")
        wait_for(lambda: status("collection_thread", "ticks") >= ticks + 4, "4 ticks meanwhile")
        st = m.get_thread_status()
        assert st["batch_thread"]["alive"] and st["collection_thread"]["alive"]
        assert st["batch_thread"]["files_loaded"] == loaded  # nothing got in
        assert st["batch_thread"]["pending_files"] >= 3  # ticks pile up, safe on disk
        error = st["batch_thread"]["last_error"]
        assert "another process holds the database" in error and "retry" in error
        assert str(settings.db_path.resolve()) in error  # says which file
        refused = [line for line in manager_log.lines if "load waiting" in line]
        assert len(refused) >= 4 and all(line.startswith("WARNING") for line in refused)
        assert "Could not set lock" in refused[-1] or "conflicting lock" in refused[-1]

        # Released: the next retry loads every pending file.
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(30) == 0
        # Every file waiting at the release gets loaded. Not "pending is 0": a tick lands every
        # half second, so on a busy machine pending is rarely seen empty (this flaked).
        backlog = status("batch_thread", "pending_files")
        wait_for(
            lambda: status("batch_thread", "files_loaded") >= loaded + max(backlog, 4),
            "the backlog to load",
        )
        assert status("batch_thread", "last_error") is None
    finally:
        if holder is not None:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
            for pipe in (holder.stdin, holder.stdout):
                if pipe is not None:
                    pipe.close()
        assert m.stop_all_threads(timeout=60)

    st = m.get_thread_status()
    store = check_store(settings.data_dir, settings.db_path)
    assert store.problems() == []
    assert store.pending_files == 0
    assert store.db_rows == st["collection_thread"]["rows_written"] > 0
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        files = con.execute("SELECT count(*) FROM loaded_files").fetchone()
    assert files == (store.processed_files,)
