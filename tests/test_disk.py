"""Disk trouble: the data dir fills up or turns read-only, then recovers.

The promise: a clear error naming the file and the cause, no corrupt or partial file under a
final name, no temp file left behind, the unwritten ticks kept in memory (``Collector``'s
backlog), and everything written once space returns. Two ways to get a full or read-only
disk: a real 2 MB tmpfs (needs root and mount permission; skipped with a message otherwise)
and an ``OSError`` injected into the writer (always runs).
"""

from __future__ import annotations

import errno
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conftest import SimTime
from nsechain.chaos.checks import check_store, temp_files
from nsechain.collector.tick import Collector, TickResult
from nsechain.config import Settings, load_settings
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store import files as store_files
from nsechain.store import loader as store_loader
from nsechain.store.loader import Loader
from nsechain.store.paths import list_tick_files


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # Fast clock: consecutive ticks always see a new NSE timestamp (no "stale").
    with Simulator(SimConfig(seed=9, speed=600, start="2026-11-25T09:20:00")) as s:
        yield s


def settings_for(sim: Simulator, data_dir: Path, db: Path) -> Settings:
    return load_settings(
        base_url=sim.base_url,
        data_dir=data_dir,
        db_path=db,
        symbols="RELIANCE",
        expiries_per_symbol=1,
        rate=1000.0,
        burst=10,
        backoff_base_s=0.0,
        max_retries=0,
    )


def tick(c: Collector) -> TickResult:
    result = c.run_tick(c.clock.now())
    assert result.outcomes["ok"] == 1, result  # the fetch itself always works here
    return result


def loader_for(s: Settings) -> Loader:
    return Loader(s.db_path, s.pending_dir, s.processed_dir, s.quarantine_dir)


# --- a real small disk ---------------------------------------------------------------------------


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at tmp_path/disk, unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small tmpfs (the injected-error tests run)")
    done = _run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); needs root "
            "and CAP_SYS_ADMIN. The injected-OSError tests cover the same paths"
        )
    try:
        yield mnt
    finally:
        if _run("umount", str(mnt)).returncode != 0:
            _run("umount", "-l", str(mnt))


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; returns the filler file (delete it to free space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # unbuffered: nothing left to flush at close
        for _ in range(10_000):  # 2 MB in 4 kB steps; bounded
            try:
                fh.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        else:
            raise AssertionError("the small disk never filled up")
    return filler


def test_full_disk_gives_a_clear_error_keeps_ticks_in_memory_and_resumes(
    sim: Simulator, small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings_for(sim, small_disk / "data", tmp_path / "chain.duckdb")
    c = Collector(s, clock=SimTime(sim))
    try:
        first = tick(c)  # with space: written
        assert first.path is not None and first.error is None
        filler = fill(small_disk)

        caplog.set_level(logging.ERROR, logger="nsechain.collector.tick")
        failed = [tick(c) for _ in range(3)]
        for n, result in enumerate(failed, 1):
            assert result.path is None
            assert result.error is not None
            assert "No space left on device" in result.error  # the cause, in words
            assert str(s.pending_dir) in result.error  # and where
            assert f"{n} tick(s) held in memory, will retry" in result.error
        assert len(c.backlog) == 3
        assert any("write failed" in r.getMessage() for r in caplog.records)
        assert list_tick_files(s.pending_dir) == [first.path]  # nothing partial appeared
        assert temp_files(s.data_dir) == []

        filler.unlink()  # space returns
        resumed = tick(c)
        assert resumed.error is None and resumed.path is not None
        assert len(c.backlog) == 0
    finally:
        c.close()
    written = list_tick_files(s.pending_dir)
    assert len(written) == 5  # the first, the three held back, the last
    rows = first.quote_rows + sum(r.quote_rows for r in failed) + resumed.quote_rows
    assert loader_for(s).load_pending().quote_rows == rows
    report = check_store(s.data_dir, s.db_path)
    assert report.problems() == [] and report.db_rows == rows


def test_read_only_disk_gives_a_clear_error_and_resumes_when_writable(
    sim: Simulator, small_disk: Path, tmp_path: Path
) -> None:
    s = settings_for(sim, small_disk / "data", tmp_path / "chain.duckdb")
    c = Collector(s, clock=SimTime(sim))
    try:
        first = tick(c)
        assert first.path is not None
        assert _run("mount", "-o", "remount,ro", str(small_disk)).returncode == 0
        try:
            failed = tick(c)
            assert failed.path is None and failed.error is not None
            assert "Read-only file system" in failed.error
            assert "1 tick(s) held in memory, will retry" in failed.error
            # The loader commits (the database is elsewhere) but cannot move the file to
            # processed: it says so and leaves it pending; the manifest stops a second load.
            stuck = loader_for(s).load_pending()
            assert stuck.quote_rows == first.quote_rows
            assert [p.name for p in stuck.move_failed] == [first.path.name]
        finally:
            assert _run("mount", "-o", "remount,rw", str(small_disk)).returncode == 0
        resumed = tick(c)
        assert resumed.path is not None and len(c.backlog) == 0
    finally:
        c.close()
    rows = first.quote_rows + failed.quote_rows + resumed.quote_rows
    loader_for(s).load_pending()
    report = check_store(s.data_dir, s.db_path)
    assert report.problems() == [] and report.pending_files == 0 and report.db_rows == rows


# --- injected OSError -----------------------------------------------------------------------------


def test_injected_disk_full_mid_write_leaves_no_partial_file_and_resumes(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings_for(sim, tmp_path / "data", tmp_path / "chain.duckdb")
    real_write = store_files._write_parquet

    def disk_full_halfway(sink: IO[bytes], *args: Any) -> None:
        sink.write(b"PAR1" + b"\0" * 1000)  # some bytes made it to the temp file
        raise OSError(errno.ENOSPC, "No space left on device")

    c = Collector(s, clock=SimTime(sim))
    try:
        monkeypatch.setattr(store_files, "_write_parquet", disk_full_halfway)
        failed = [tick(c), tick(c)]
        assert all(r.path is None for r in failed)
        assert failed[-1].error is not None
        assert "No space left on device" in failed[-1].error
        assert "2 tick(s) held in memory" in failed[-1].error
        assert list_tick_files(s.pending_dir) == [] and temp_files(s.data_dir) == []

        monkeypatch.setattr(store_files, "_write_parquet", real_write)
        resumed = tick(c)
        assert resumed.path is not None and len(c.backlog) == 0
    finally:
        c.close()
    assert len(list_tick_files(s.pending_dir)) == 3
    rows = sum(r.quote_rows for r in failed) + resumed.quote_rows
    assert loader_for(s).load_pending().quote_rows == rows
    assert check_store(s.data_dir, s.db_path).problems() == []


def test_injected_read_only_processed_dir_keeps_files_pending_then_moves_them(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings_for(sim, tmp_path / "data", tmp_path / "chain.duckdb")
    c = Collector(s, clock=SimTime(sim))
    try:
        results = [tick(c), tick(c)]
    finally:
        c.close()
    rows = sum(r.quote_rows for r in results)

    def read_only(src: Path, dest_dir: Path) -> Path:
        raise OSError(errno.EROFS, "Read-only file system", str(dest_dir))

    monkeypatch.setattr(store_loader, "move_file", read_only)
    loader = loader_for(s)
    first = loader.load_pending()
    assert first.quote_rows == rows  # committed
    assert len(first.move_failed) == 2  # but could not be moved: still pending, said so
    assert len(list_tick_files(s.pending_dir)) == 2

    monkeypatch.undo()
    again = loader.load_pending()
    assert (again.files, again.quote_rows, again.moved) == (0, 0, 2)  # moved, not reloaded
    report = check_store(s.data_dir, s.db_path)
    assert report.problems() == [] and report.pending_files == 0 and report.db_rows == rows
