"""One path rule: the data folder and the database are siblings; give one, the other follows.

``data/`` and ``options_chain_data.duckdb`` side by side by default; ``--data-dir D`` puts the
database at ``D/../options_chain_data.duckdb``; ``--db X`` puts the data at ``X/../data``.
So after ``make demo --keep`` one flag points every command at that run, and ``status --db X``
reads the status of X's own collector. Folders that do not exist yet are created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nsechain.cli import app
from nsechain.collector.preflight import validate_startup
from nsechain.collector.status import write_status
from nsechain.config import load_settings


@pytest.mark.parametrize(
    ("flags", "data_dir", "db_path"),
    [
        ({}, "data", "options_chain_data.duckdb"),
        ({"data_dir": "/srv/run/data"}, "/srv/run/data", "/srv/run/options_chain_data.duckdb"),
        ({"db_path": "/srv/run/nse.duckdb"}, "/srv/run/data", "/srv/run/nse.duckdb"),
        ({"data_dir": "/a/d", "db_path": "/b/x.duckdb"}, "/a/d", "/b/x.duckdb"),
    ],
)
def test_the_rule(flags: dict[str, str], data_dir: str, db_path: str) -> None:
    s = load_settings(**flags)
    assert (s.data_dir, s.db_path) == (Path(data_dir), Path(db_path))


def test_the_rule_holds_for_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSECHAIN_DATA_DIR", "/srv/env/data")
    assert load_settings().db_path == Path("/srv/env/options_chain_data.duckdb")
    # A flag beats the environment, and the rule follows the flag.
    assert load_settings(db_path="/x/y.duckdb").data_dir == Path("/srv/env/data")


def test_status_with_only_db_reads_the_status_of_that_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    stopped: dict[str, Any] = {
        "updated_at": "2026-11-25T15:30:00+05:30", "state": "stopped", "pid": 7,
        "stop_reason": "SIGTERM received (asked to stop)",
        # The parts every collector's status has (status.json is checked when read).
        "collection_thread": {
            "alive": False, "restarts": 0, "last_error": None, "last_tick_at": None,
            "fetches": {}, "ticks": 0, "rows_written": 0,
        },
        "batch_thread": {
            "alive": False, "restarts": 0, "last_error": None, "last_batch_at": None,
            "batches": 0, "files_loaded": 0, "rows_loaded": 0, "pending_files": 0,
        },
        "symbols": {},
    }  # fmt: skip
    write_status(run / "data" / "status.json", stopped)
    write_status(tmp_path / "data" / "status.json", {"state": "another run"})  # ./data
    result = CliRunner().invoke(
        app, ["status", "--db", str(run / "options_chain_data.duckdb")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2
    assert "stopped: SIGTERM received" in result.output


def test_collect_creates_the_folders_it_is_given(tmp_path: Path) -> None:
    s = load_settings(db_path=tmp_path / "new" / "deeper" / "x.duckdb", symbols="NIFTY")
    validate_startup(s)
    assert (tmp_path / "new" / "deeper").is_dir()
    assert s.data_dir == tmp_path / "new" / "deeper" / "data"
