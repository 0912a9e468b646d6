"""Never lose a tick silently: held intervals spill to ``spill_dir``, or each drop is logged
with its time range and counted, and a stop that loses anything is not ``clean``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conftest import SimTime, e2e_settings, wait_for
from nsechain.collector import backlog as backlog_mod
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.tick import Collector, TickResult
from nsechain.config import Settings
from nsechain.errors import StorageError
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.files import write_tick
from nsechain.store.loader import Loader
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import iso


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=11, speed=600, start="2026-11-25T11:00:00")) as s:
        yield s


def _settings(sim: Simulator, root: Path, **kw: Any) -> Settings:
    one = {"symbols": "RELIANCE", "expiries_per_symbol": 1, "interval_s": 0.5}
    return e2e_settings(root, sim.base_url, **{**one, "max_retries": 0, **kw})


class _Disk:
    """The data dir's disk refuses writes while ``full``; other folders (spill) still work."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.pending = settings.pending_dir
        monkeypatch.setattr(backlog_mod, "write_tick", self._write)

    def _write(self, root: Path, at: datetime, quotes: pa.Table, flog: pa.Table) -> Path:
        if self.full and root == self.pending:
            raise StorageError("cannot write (No space left on device)", path=root)
        return write_tick(root, at, quotes, flog)


def _tick(c: Collector) -> TickResult:
    result = c.run_tick(c.clock.now())
    assert result.outcomes["ok"] == 1, result
    return result


def test_each_dropped_interval_is_logged_with_its_range_and_counted(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = _settings(sim, tmp_path)
    disk = _Disk(s, monkeypatch)
    c = Collector(s, clock=SimTime(sim))
    c.backlog.max_held = 2
    try:
        first = _tick(c)
        disk.full = True
        with caplog.at_level(logging.ERROR, logger="nsechain.collector.backlog"):
            held = [_tick(c) for _ in range(4)]
        report = c.report()
    finally:
        c.close()
    drops = [r.getMessage() for r in caplog.records if "interval dropped" in r.getMessage()]
    assert len(drops) == 2  # four held, room for two: the two oldest went, each said so
    assert f"from={iso(first.tick_at)} to={iso(held[0].tick_at)}" in drops[0]
    assert f"from={iso(held[0].tick_at)} to={iso(held[1].tick_at)}" in drops[1]
    assert report["ticks_dropped"] == 2 and report["backlog_ticks"] == 2
    assert report["rows_dropped"] == held[0].quote_rows + held[1].quote_rows > 0
    assert report["dropped_ranges"][0] == {
        "from": iso(first.tick_at),
        "to": iso(held[0].tick_at),
    }


def test_held_intervals_spill_and_come_back_to_pending(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = _settings(sim, tmp_path, spill_dir=tmp_path / "spill")
    disk = _Disk(s, monkeypatch)
    c = Collector(s, clock=SimTime(sim))
    try:
        disk.full = True
        spilled = [_tick(c) for _ in range(3)]
        assert all(
            r.path is not None and r.path.is_relative_to(tmp_path / "spill") for r in spilled
        )
        assert c.report()["spill_files_waiting"] == 3 and c.report()["ticks_spilled"] == 3
        assert list_tick_files(s.pending_dir) == []
        disk.full = False
        last = _tick(c)
        assert c.report()["spill_files_waiting"] == 0 and c.report()["ticks_dropped"] == 0
    finally:
        c.close()
    assert len(list_tick_files(s.pending_dir)) == 4
    loaded = Loader(s.db_path, s.pending_dir, s.processed_dir, s.quarantine_dir).load_pending()
    assert loaded.quote_rows == sum(r.quote_rows for r in [*spilled, last])


def test_a_stop_with_the_disk_still_full_says_what_it_lost(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = _settings(sim, tmp_path)
    disk = _Disk(s, monkeypatch)
    manager = OptionsThreadedManager(s, clock=SimTime(sim))
    disk.full = True
    manager.start_all_threads()
    try:
        wait_for(lambda: len(manager.collector.backlog) >= 2)
    finally:
        with caplog.at_level(logging.INFO, logger="nsechain"):
            clean = manager.stop_all_threads()
    assert clean is False
    stopped = [r.getMessage() for r in caplog.records if "collector stopped" in r.getMessage()]
    assert stopped and "clean=False" in stopped[-1] and "intervals_lost=0" not in stopped[-1]
    lost = manager.collector.backlog.dropped
    assert lost >= 2 and f"intervals_lost={lost}" in stopped[-1]
    drops = [r for r in caplog.records if "interval dropped" in r.getMessage()]
    assert len(drops) == lost and all("stopped while the disk" in r.getMessage() for r in drops)


def test_an_interval_being_written_is_not_reported_as_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status thread reads the report while the writer works: the interval in hand is not
    a refused one (a healthy run read "degraded: 1 interval(s) held in memory" now and then)."""
    backlog = backlog_mod.Backlog(tmp_path, None)
    seen: list[int] = []

    def write(root: Path, at: datetime, quotes: pa.Table, flog: pa.Table) -> Path:
        seen.append(backlog.report()["backlog_ticks"])
        return root / "tick.parquet"

    monkeypatch.setattr(backlog_mod, "write_tick", write)
    empty = pa.table({"x": pa.array([], pa.int64())})
    backlog.write(datetime.fromisoformat("2026-11-25T10:00:00+05:30"), empty, empty)
    assert seen == [0] and backlog.report()["backlog_ticks"] == 0


def test_a_crashed_runs_spilled_files_come_back_at_the_next_start(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files a previous run spilled (it crashed, or stopped with the disk full) are moved back
    to pending at start-up, under the data-dir lock, not at this run's first good write: here
    the data dir still refuses tick files, and yet they are loaded."""
    spill = tmp_path / "spill"
    s = _settings(sim, tmp_path, spill_dir=spill)
    crashed = Collector(s, clock=SimTime(sim))
    try:
        disk = _Disk(s, monkeypatch)
        disk.full = True
        left = [_tick(crashed) for _ in range(2)]  # a run that then died with these spilled
    finally:
        crashed.close()
    assert len(list_tick_files(spill)) == 2
    leftover_temp = left[0].path.parent / ".tmp-half-written.parquet"  # type: ignore[union-attr]
    leftover_temp.write_bytes(b"PAR1")
    manager = OptionsThreadedManager(s, clock=SimTime(sim))
    tick, loaded = manager.run_once()  # the disk still refuses: this tick spills
    assert tick.path is not None and tick.path.is_relative_to(spill)
    assert not leftover_temp.exists()  # swept at start
    assert loaded is not None and loaded.files == 2
    assert loaded.quote_rows == sum(r.quote_rows for r in left)
    assert [p.name for p in list_tick_files(spill)] == [tick.path.name]
