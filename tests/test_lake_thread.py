"""The lake thread of ``collect``: opt-in, commits what the batch thread loaded, shows its health
in the status, and never stops collection when the catalog fails.

Against the simulator (on its clock) and, for the commit test, the real PostgreSQL catalog of
test_lake.py's fixtures.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from conftest import SimTime, e2e_settings, wait_for
from lakeservers import free_port
from nsechain import OptionsThreadedManager
from nsechain.collector.health import reader_verdict
from nsechain.collector.lakethread import FAILED_PASSES, lake_problem
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

    # The stop commits what the final load moved to processed: the stopped collector's lake
    # holds exactly the rows (and fetch-log rows) DuckDB holds, nothing left for a next run.
    assert lake["lag_files"] == 0
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        local = {
            k: con.execute(f"SELECT count(*) FROM {k}").fetchall()[0][0]
            for k in ("option_quotes", "fetch_log")
        }
        loaded = con.execute("SELECT count(*) FROM loaded_files").fetchall()[0][0]
    lake_counts = counts(settings)
    assert lake_counts["option_quotes"]["rows"] == local["option_quotes"] > 0
    assert lake_counts["fetch_log"]["rows"] == local["fetch_log"] > 0
    assert lake["files_committed"] == loaded
    quotes = lake_counts["option_quotes"]
    assert quotes["distinct_batches"] == quotes["batches"]
    assert _commit(settings, sim.now()).batches == 0  # and nothing left to commit


def test_a_failing_catalog_never_stops_collection(sim: Simulator, tmp_path: Path) -> None:
    nobody = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/lake"  # nothing listens
    settings = lake_collect(tmp_path, sim, nobody, local_retention_days=1)
    m = OptionsThreadedManager(settings, clock=SimTime(sim))
    m.start_all_threads()
    try:
        wait_for(lambda: _lake(m).get("failed_passes", 0) >= FAILED_PASSES, timeout=60)
        wait_for(lambda: m.get_thread_status()["batch_thread"]["files_loaded"] >= 2)
        st = m.get_thread_status()
        assert st["lake_thread"]["alive"] and st["lake_thread"]["last_error"]
        assert st["collection_thread"]["alive"] and st["collection_thread"]["ticks"] >= 2
        # The verdict says so, naming the lake and what to do; collection goes on.
        verdict = st["verdict"]
        assert verdict["verdict"] == "degraded" and verdict["exit_code"] == 1
        assert "the lake commit failed" in verdict["reason"]
        assert "lake_catalog_url" in verdict["reason"]
        assert st["lake_thread"]["lag_files"] > 0  # counted from the journal, lake or not
        assert f"{st['lake_thread']['lag_files']} tick file(s) wait" in verdict["reason"]
        ticks = st["collection_thread"]["ticks"]
        wait_for(lambda: m.get_thread_status()["collection_thread"]["ticks"] > ticks)
        # What `nsechain status` shows from status.json, in another process.
        shown = lambda: reader_verdict(load_status(settings.status_path)[0], settings)  # noqa: E731
        wait_for(lambda: "the lake commit failed" in shown()["reason"])
    finally:
        assert m.stop_all_threads(timeout=30)
    # Nothing was deleted from DuckDB: no day is proven to be in the lake.
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM option_quotes").fetchall()[0][0] > 0


def test_a_catalog_that_never_answers_holds_the_stop_briefly(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A catalog that takes connections and never answers (a hung server, a firewall that
    drops): the lake thread is stuck in its pass, and the stop waits for it LAKE_STOP_S only
    (shortened here), says so, and loses nothing: DuckDB holds what was collected."""
    from nsechain.collector import manager as manager_module

    monkeypatch.setattr(manager_module, "LAKE_STOP_S", 0.5)
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # the kernel completes the handshake; nobody ever answers
        port = hung.getsockname()[1]
        settings = lake_collect(tmp_path, sim, f"postgresql+psycopg://nobody@127.0.0.1:{port}/x")
        m = OptionsThreadedManager(settings, clock=SimTime(sim))
        m.start_all_threads()
        try:
            wait_for(lambda: m.get_thread_status()["batch_thread"]["files_loaded"] >= 2)
        finally:
            with caplog.at_level("WARNING", logger="nsechain.collector.manager"):
                clean = m.stop_all_threads(timeout=30)
        assert not clean  # the lake thread had not ended: said, not hidden
        assert any("lake thread still committing" in r.getMessage() for r in caplog.records)
        assert not m.workers["collection_thread"].alive and not m.workers["batch_thread"].alive
        assert _lake(m)["commits"] == 0
    # The socket is closed: the stuck connection fails and the thread ends.
    m.workers["lake_thread"].join(30)
    with duckdb.connect(str(settings.db_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM option_quotes").fetchall()[0][0] > 0


def test_the_lake_degrades_the_verdict_after_failed_passes_only() -> None:
    """Counts, not time: one or two failed passes are a blip; FAILED_PASSES in a row are not.
    A pass running past a few batch intervals (a catalog that never answers) counts too."""
    ok = {"alive": True, "failed_passes": 0, "lag_files": 0, "pass_running_s": None}
    assert lake_problem({}, 300) is None and lake_problem(ok, 300) is None
    failing = {**ok, "failed_passes": FAILED_PASSES - 1, "last_error": "OperationalError: x"}
    assert lake_problem(failing, 300) is None
    failing["failed_passes"] = FAILED_PASSES
    failing["lag_files"] = 7
    reason = lake_problem(failing, 300)
    assert reason is not None and "OperationalError: x" in reason
    assert "7 tick file(s) wait in processed/" in reason and "nsechain lake commit" in reason
    assert lake_problem({**ok, "pass_running_s": 100.0}, 2) is None
    stuck = lake_problem({**ok, "pass_running_s": 901.0}, 300)
    assert stuck is not None and "running for 901 s" in stuck
    down = lake_problem({**ok, "alive": False, "last_error": "boom"}, 300)
    assert down is not None and "the lake thread is down (boom)" in down
