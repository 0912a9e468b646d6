"""A damaged DuckDB file never stops collection, and ``nsechain rebuild`` restores every row.

Three damages seen in the field: a zero-byte file, a truncated file, a broken header. With
each, the collector still writes its tick file, says in the status since when the database is
unhealthy, and ``rebuild`` moves the file aside and re-creates it from the tick files with
every row identical, exactly once (a second rebuild has nothing to do; a forced one gives the
same rows again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import SimTime, e2e_settings
from nsechain.cli import app
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.preflight import validate_startup
from nsechain.collector.status import read_status
from nsechain.config import Settings
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.paths import list_tick_files

_QUOTE_ORDER = [("symbol", "ascending"), ("expiry", "ascending"), ("exchange_ts", "ascending")]
_QUOTE_ORDER += [("strike", "ascending"), ("option_type", "ascending")]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, speed=600, start="2026-11-25T10:00:00")) as s:
        yield s


def _settings(sim: Simulator, root: Path) -> Settings:
    return e2e_settings(root, sim.base_url, symbols="NIFTY,RELIANCE", expiries_per_symbol=1)


def _collect_once(settings: Settings, sim: Simulator) -> OptionsThreadedManager:
    manager = OptionsThreadedManager(settings, clock=SimTime(sim))
    manager.run_once()
    return manager


def _db_rows(db: Path) -> tuple[pa.Table, int, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        quotes = con.sql("SELECT * FROM option_quotes").to_arrow_table()
        fetches = con.execute("SELECT count(*) FROM fetch_log").fetchone()
        files = con.execute("SELECT count(*) FROM loaded_files").fetchone()
    assert fetches is not None and files is not None
    return quotes.sort_by(_QUOTE_ORDER), fetches[0], files[0]


def _same_rows(db_rows: pa.Table, settings: Settings) -> bool:
    """The database's quotes are exactly the tick files' (in DuckDB's types: UTC, nullable)."""
    found = list_tick_files(settings.processed_dir) + list_tick_files(settings.pending_dir)
    files = pa.concat_tables(pq.read_table(p) for p in found).sort_by(_QUOTE_ORDER)
    return bool(db_rows.equals(files.cast(db_rows.schema)))


def _damage(db: Path, how: str) -> None:
    data = db.read_bytes()
    if how == "zero_bytes":
        db.write_bytes(b"")
    elif how == "truncated":
        db.write_bytes(data[: len(data) // 3])
    else:  # the header: DuckDB's first 4 KiB block, magic bytes included
        db.write_bytes(b"\xa5" * 4096 + data[4096:])


def _rebuild(settings: Settings, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        ["rebuild", "--data-dir", str(settings.data_dir), "--db", str(settings.db_path), *extra],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("how", ["zero_bytes", "truncated", "header"])
def test_collection_survives_a_damaged_database_and_rebuild_restores_it(
    sim: Simulator, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(sim, tmp_path)
    for _ in range(2):
        _collect_once(settings, sim)
    before, _, files_before = _db_rows(settings.db_path)
    assert before.num_rows > 0 and _same_rows(before, settings)
    _damage(settings.db_path, how)

    validate_startup(settings)  # the start is not refused: the damage is reported, not fatal
    with caplog.at_level(logging.ERROR, logger="nsechain.collector.batch"):
        manager = _collect_once(settings, sim)
    assert manager.last_tick is not None and manager.last_tick.path is not None  # collected
    assert len(list_tick_files(settings.pending_dir)) == 1
    batch = read_status(settings.status_path)["batch_thread"]  # type: ignore[index]
    assert batch["db_unhealthy_since"] is not None and batch["db_error"]
    unhealthy = [r for r in caplog.records if "database unhealthy" in r.getMessage()]
    assert len(unhealthy) == 1, caplog.text  # one clear line, not a traceback

    out = _rebuild(settings)
    assert "moved" in out and ".damaged-" in out
    after, _, files_after = _db_rows(settings.db_path)
    assert files_after == files_before + 1
    assert _same_rows(after, settings)  # every row back, identical, the new tick too
    assert list_tick_files(settings.pending_dir) == []
    assert list(tmp_path.glob("chain.duckdb.damaged-*"))  # moved aside, never deleted

    # Exactly once: nothing to do on a healthy file; forced, the same rows again.
    assert "healthy; nothing to rebuild" in _rebuild(settings)
    _rebuild(settings, "--force")
    again, _, files_again = _db_rows(settings.db_path)
    assert again.equals(after) and files_again == files_after

    # And the collector is happy again: its next load clears the condition.
    manager = _collect_once(settings, sim)
    assert manager.batch.db_unhealthy_since is None

    # A database deleted outright is simply built again.
    rows, _, files = _db_rows(settings.db_path)
    settings.db_path.unlink()
    assert "aside" not in _rebuild(settings)
    rebuilt, _, files_rebuilt = _db_rows(settings.db_path)
    assert rebuilt.equals(rows) and files_rebuilt == files


def test_rebuild_is_refused_while_a_collector_holds_the_data_dir(
    sim: Simulator, tmp_path: Path
) -> None:
    settings = _settings(sim, tmp_path)
    manager = OptionsThreadedManager(settings, clock=SimTime(sim))
    manager.claim_data_dir()
    try:
        result = CliRunner().invoke(
            app,
            ["rebuild", "--data-dir", str(settings.data_dir), "--db", str(settings.db_path)],
            env={"COLUMNS": "300"},
        )
    finally:
        manager.dir_lock.release()
        manager.collector.close()
    assert result.exit_code == 2 and "PID" in result.output, result.output
