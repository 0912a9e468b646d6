"""The lake thread of ``collect``: opt-in, commits what the batch thread loaded, shows its health
in the status, and never stops collection when the catalog fails.

Against the simulator (on its clock) and, for the commit test, the real PostgreSQL catalog of
test_lake.py's fixtures.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from conftest import SimTime, e2e_settings, wait_for
from lakeservers import free_port
from nsechain import OptionsThreadedManager
from nsechain.collector.status import load_status
from nsechain.collector.view import status_view
from nsechain.config import Settings
from nsechain.sim.server import SimConfig, Simulator
from test_lake import _commit, catalog_url, counts, postgres

__all__ = ["catalog_url", "postgres"]  # the fixtures, imported for pytest


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=7, speed=60, start="2026-11-25T10:00:00")) as s:
        yield s


def _lake(m: OptionsThreadedManager) -> dict[str, int]:
    section: dict[str, int] = m.get_thread_status().get("lake_thread", {})
    return section


def lake_collect(tmp_path: Path, sim: Simulator, url: str, **kw: Any) -> Settings:
    warehouse = str(tmp_path / "warehouse")
    return e2e_settings(
        tmp_path,
        sim.base_url,
        symbols="NIFTY",
        lake_catalog_url=url,
        lake_warehouse=warehouse,
        **kw,
    )


def test_no_catalog_no_lake_thread(sim: Simulator, tmp_path: Path) -> None:
    m = OptionsThreadedManager(e2e_settings(tmp_path, sim.base_url), clock=SimTime(sim))
    assert m.lake is None and "lake_thread" not in m.workers
    assert "lake_thread" not in m.get_thread_status()


def test_collect_commits_to_the_lake_and_status_shows_it(
    sim: Simulator, tmp_path: Path, catalog_url: str
) -> None:
    settings = lake_collect(tmp_path, sim, catalog_url)
    m = OptionsThreadedManager(settings, clock=SimTime(sim))
    m.start_all_threads()
    try:
        wait_for(lambda: _lake(m).get("files_committed", 0) >= 2, timeout=60)
        wait_for(lambda: (load_status(settings.status_path)[0] or {}).get("lake_thread"))
    finally:
        assert m.stop_all_threads(timeout=30)
    status, problem = load_status(settings.status_path)
    assert problem is None and status is not None
    lake = status["lake_thread"]
    assert lake["errors"] == 0 and lake["last_error"] is None and lake["commits"] >= 1
    out = io.StringIO()
    Console(file=out, width=200).print(status_view(status))
    assert "lake" in out.getvalue() and "commits=" in out.getvalue()

    # Whatever the thread had not committed by the stop goes at the next pass: then the lake
    # holds exactly the rows DuckDB holds.
    _commit(settings, sim.now())
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        local = con.execute("SELECT count(*) FROM option_quotes").fetchall()[0][0]
    lake_counts = counts(settings)["option_quotes"]
    assert lake_counts["rows"] == local > 0
    assert lake_counts["distinct_batches"] == lake_counts["batches"]


def test_a_failing_catalog_never_stops_collection(sim: Simulator, tmp_path: Path) -> None:
    nobody = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/lake"  # nothing listens
    settings = lake_collect(tmp_path, sim, nobody, local_retention_days=1)
    m = OptionsThreadedManager(settings, clock=SimTime(sim))
    m.start_all_threads()
    try:
        wait_for(lambda: _lake(m).get("errors", 0) >= 2, timeout=60)
        wait_for(lambda: m.get_thread_status()["batch_thread"]["files_loaded"] >= 2)
        st = m.get_thread_status()
        assert st["lake_thread"]["alive"] and st["lake_thread"]["last_error"]
        assert st["collection_thread"]["alive"] and st["collection_thread"]["ticks"] >= 2
    finally:
        assert m.stop_all_threads(timeout=30)
    # Nothing was deleted from DuckDB: no day is proven to be in the lake.
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM option_quotes").fetchall()[0][0] > 0
