"""One collector per data dir: a second one is refused with the holder's PID; the lock dies
with its process (SIGKILL included), so no stale lock is ever left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import wait_for
from nsechain.cli import app
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.config import load_settings
from nsechain.errors import DataDirBusy
from nsechain.store.dirlock import LOCK_NAME, DataDirLock

_HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nsechain.store.dirlock import DataDirLock
    lock = DataDirLock(Path(sys.argv[1]))
    lock.acquire("collect")
    print("held", flush=True)
    time.sleep(120)
    """
)


def _holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire("collect")
    with pytest.raises(DataDirBusy) as caught:
        DataDirLock(tmp_path).acquire("rebuild")
    message = str(caught.value)
    assert caught.value.pid == os.getpid()
    assert f"PID {os.getpid()}" in message and str(tmp_path) in message
    assert "\n" not in message
    # Rebuild's refusal says exactly what to do: stop this collector, rebuild, start again.
    assert f"`kill -TERM {os.getpid()}`" in message and "(collect since " in message
    assert "`nsechain rebuild` again, then start the collector" in message
    with pytest.raises(DataDirBusy, match="give this one another data_dir"):
        DataDirLock(tmp_path).acquire("collect")
    first.release()
    again = DataDirLock(tmp_path)
    again.acquire()  # free again once released
    again.release()


def test_the_lock_dies_with_a_killed_process(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        with pytest.raises(DataDirBusy, match=f"PID {proc.pid}"):
            DataDirLock(tmp_path).acquire()
    finally:
        _kill(proc)
    assert (tmp_path / LOCK_NAME).exists()  # the file stays; the lock does not
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert lock.held
    lock.release()


def test_a_second_manager_on_one_data_dir_is_refused_before_touching_it(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        db_path=tmp_path / "x.duckdb",
        base_url="http://127.0.0.1:9",
        symbols="NIFTY",
    )
    first, second = OptionsThreadedManager(settings), OptionsThreadedManager(settings)
    first.claim_data_dir()
    # A temp file the first collector is filling: the second one's start-up sweep must not run.
    leftover = settings.pending_dir / ".tmp-tick_x.parquet.1234abcd"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"in flight")
    try:
        with pytest.raises(DataDirBusy, match=f"PID {os.getpid()}"):
            second.start_all_threads()
        assert leftover.exists()
        assert second.stop_all_threads() is True
    finally:
        first.dir_lock.release()
        first.collector.close()


def test_collect_is_refused_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = _holder(data)
    try:
        result = CliRunner().invoke(
            app,
            ["collect", "--once", "--data-dir", str(data), "--db", str(tmp_path / "x.duckdb")],
            env={"NSECHAIN_BASE_URL": "http://127.0.0.1:9", "COLUMNS": "300"},
        )
    finally:
        _kill(proc)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"PID {proc.pid}" in lines[0], result.output
    wait_for(lambda: not (data / "status.json").exists(), timeout=1)
