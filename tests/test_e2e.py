"""End to end over real HTTP on loopback: simulator → manager threads → Parquet → DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from conftest import SimTime, e2e_settings, wait_for
from nsechain import OptionsThreadedManager
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.loader import Loader
from nsechain.store.paths import tick_file_name, tick_time_of_name


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # A Wednesday morning (24-Nov-2026 is a holiday), one simulated minute per wall second:
    # every tick sees a new snapshot.
    with Simulator(SimConfig(seed=7, speed=60, start="2026-11-25T09:20:00")) as s:
        yield s


def db_facts(db: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        q = con.execute
        return {
            "rows": q("SELECT count(*) FROM option_quotes").fetchone()[0],  # type: ignore[index]
            "dups": q(
                "SELECT count(*) FROM (SELECT 1 FROM option_quotes GROUP BY symbol, expiry, "
                "strike, option_type, exchange_ts HAVING count(*) > 1)"
            ).fetchone()[0],  # type: ignore[index]
            "ok_rows": q(
                "SELECT coalesce(sum(rows), 0) FROM fetch_log WHERE outcome = 'ok'"
            ).fetchone()[0],  # type: ignore[index]
            "symbols": {r[0] for r in q("SELECT DISTINCT symbol FROM option_quotes").fetchall()},
            "files": q("SELECT count(*) FROM loaded_files").fetchone()[0],  # type: ignore[index]
        }
    finally:
        con.close()


def test_manager_collects_loads_and_stops_cleanly(sim: Simulator, tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, sim.base_url)
    m = OptionsThreadedManager(settings, clock=SimTime(sim))
    m.start_all_threads()
    try:
        wait_for(lambda: m.get_thread_status()["batch_thread"]["rows_loaded"] > 0)
        wait_for(lambda: m.get_thread_status()["collection_thread"]["ticks"] >= 3)
        st = m.get_thread_status()
        assert st["collection_thread"]["alive"] and st["batch_thread"]["alive"]
        assert st["collection_thread"]["fetches"]["ok"] >= 6
        assert st["collection_thread"]["rows_written"] > 0
        assert settings.status_path.is_file()
    finally:
        assert m.stop_all_threads(timeout=30)
    st = m.get_thread_status()
    assert not st["collection_thread"]["alive"] and not st["batch_thread"]["alive"]
    # The stop drained: nothing pending, every written row is in DuckDB exactly once.
    assert st["batch_thread"]["pending_files"] == 0
    facts = db_facts(settings.db_path)
    assert facts["rows"] == st["collection_thread"]["rows_written"] == facts["ok_rows"]
    assert facts["dups"] == 0
    assert facts["symbols"] == {"NIFTY", "RELIANCE", "M&M"}
    processed = sorted(settings.processed_dir.rglob("*.parquet"))
    assert facts["files"] == len(processed)
    assert sum(pq.read_metadata(p).num_rows for p in processed) == facts["rows"]


def test_loading_again_or_restarting_loads_nothing_twice(sim: Simulator, tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, sim.base_url, symbols="NIFTY")
    tick, loaded = OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()
    assert tick.quote_rows > 0 and loaded is not None and loaded.quote_rows == tick.quote_rows
    before = db_facts(settings.db_path)

    # A second load finds nothing; a copy of an already-loaded file is skipped by snapshot.
    loader = Loader(
        settings.db_path, settings.pending_dir, settings.processed_dir, settings.quarantine_dir
    )
    assert loader.load_pending().quote_rows == 0
    done = next(settings.processed_dir.rglob("*.parquet"))
    at = tick_time_of_name(done.name)
    assert at is not None
    copy = settings.pending_dir / done.parent.name / tick_file_name(at, token="0badc0de")
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(done.read_bytes())
    again = loader.load_pending()
    assert again.quote_rows == 0 and again.skipped_snapshots > 0
    assert db_facts(settings.db_path)["rows"] == before["rows"]

    # A restarted collector starts with no memory of NSE timestamps; the loader still dedups.
    sim.set_clock(speed=0)  # freeze NSE: the restart fetches the very same snapshots
    OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()
    OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()
    after = db_facts(settings.db_path)
    assert after["dups"] == 0


def test_no_network_keeps_retrying_with_clear_errors(tmp_path: Path) -> None:
    settings = e2e_settings(tmp_path, "http://127.0.0.1:9", max_retries=0)
    tick, _ = OptionsThreadedManager(settings).run_once()
    assert tick.quote_rows == 0
    assert tick.error is not None and "127.0.0.1:9" in tick.error
    assert tick.outcomes["http_error"] >= 1


def test_start_sweeps_every_temp_file_under_the_data_dir(tmp_path: Path) -> None:
    # What a SIGKILL mid-write leaves: status.json, a quarantine body and sidecar, a market
    # cache, a tick file being moved to processed; all swept at start, not only pending.
    settings = e2e_settings(tmp_path, "http://127.0.0.1:9", max_retries=0)
    planted = [
        settings.data_dir / ".tmp-status.json.0badc0de",
        settings.quarantine_dir / "20261125" / ".tmp-body_x.bin.0badc0de",
        settings.quarantine_dir / "20261125" / ".tmp-body_x.bin.reason.json.0badc0de",
        settings.market_dir / ".tmp-universe.json.0badc0de",
        settings.processed_dir / "20261125" / ".tmp-tick_x.parquet.0badc0de",
        settings.pending_dir / "20261125" / ".tmp-tick_y.parquet.0badc0de",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    kept = settings.data_dir / "notes.txt"  # not ours: never touched
    kept.write_text("mine")
    OptionsThreadedManager(settings).run_once()
    assert [p for p in planted if p.exists()] == []
    assert kept.read_text() == "mine"
