"""Another process holding the DuckDB file: the desk retries, then says clearly what is wrong."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from nsechain.errors import DatabaseLocked
from nsechain.query import connect
from nsechain.store import db as dbmod

# Opens the file read-write (as the collector's batch load does), says so, and holds it until
# a line arrives on stdin.
HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
con.close()
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "busy.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE option_quotes (symbol VARCHAR)")
    con.close()
    return path


@pytest.fixture
def holder(db: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        release(proc)


def release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def count_attempts(monkeypatch: pytest.MonkeyPatch, after_first: Any = None) -> list[bool]:
    """Record each open attempt (True = got the file); run ``after_first`` after the first."""
    attempts: list[bool] = []
    real = dbmod._connect_once

    def spy(where: Path, read_only: bool) -> Any:
        result = real(where, read_only)
        attempts.append(not isinstance(result, str))  # a string is DuckDB's lock message
        if len(attempts) == 1 and after_first is not None:
            after_first()
        return result

    monkeypatch.setattr(dbmod, "_connect_once", spy)
    return attempts


def test_locked_database_retries_then_raises_a_clear_error(
    db: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = count_attempts(monkeypatch)
    with pytest.raises(DatabaseLocked) as info:
        connect(db, timeout_s=0.5)
    assert len(attempts) > 1 and not any(attempts)  # it retried, and never got in
    message = str(info.value)
    assert str(db) in message
    assert f"process {holder.pid}" in message
    assert "try again" in message
    assert info.value.path == db


def test_lock_released_while_retrying(
    db: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = count_attempts(monkeypatch, after_first=lambda: release(holder))
    desk = connect(db, timeout_s=60)
    assert attempts[0] is False and attempts[-1] is True
    assert desk.sql("SELECT count(*) AS n FROM option_quotes").column("n").to_pylist() == [0]
