"""Config mistakes stop ``nsechain collect`` at start: exit code 2, one line naming the setting.

Bad paths, unknown symbols, rate <= 0 and unknown or malformed TOML keys must be refused before
anything runs: no folder or database is created and no request is sent (the base URL points
at a closed port, and the test checks the data dir never appeared). Path and symbol checks
live in ``collector/preflight.py`` (``validate_startup``); value checks in ``config.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nsechain.collector.preflight import validate_startup
from nsechain.config import load_settings
from nsechain.errors import ConfigError


def collect(
    cwd: Path, *args: str, env: dict[str, str] | None = None, data: str = "data"
) -> tuple[int, list[str], Path]:
    """Run ``nsechain collect --once`` in ``cwd``; (exit code, stderr lines, data dir)."""
    data_dir = cwd / data
    base = {k: v for k, v in os.environ.items() if not k.startswith("NSECHAIN_")}
    full_env = {**base, "NSECHAIN_MAX_RETRIES": "0", "COLUMNS": "80", **(env or {})}
    argv = [
        sys.executable, "-m", "nsechain", "collect", "--once", "--no-live",
        "--base-url", "http://127.0.0.1:9",  # a closed port: nothing may be fetched anyway
        "--symbols", "NIFTY",
        "--data-dir", str(data_dir),
        "--db", str(cwd / "chain.duckdb"),
        *args,
    ]  # fmt: skip
    done = subprocess.run(
        argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return done.returncode, lines, data_dir


def assert_refused(code: int, lines: list[str], setting: str, *, cwd: Path) -> None:
    assert code == 2, lines
    assert len(lines) == 1, lines  # one line: no traceback, no wrapped message
    assert lines[0].startswith("error: "), lines
    assert setting in lines[0], lines
    assert not (cwd / "chain.duckdb").exists()  # nothing ran


# --- paths ----------------------------------------------------------------------------------------


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    code, lines, _ = collect(tmp_path)
    assert_refused(code, lines, "data_dir", cwd=tmp_path)
    assert "is a file" in lines[0]


def test_data_dir_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    code, lines, data_dir = collect(tmp_path, data="afile/data")
    assert_refused(code, lines, "data_dir", cwd=tmp_path)
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("db", "needle"),
    [
        ("afile/chain.duckdb", "is a file"),
        ("adir", "is a folder"),
        ("notes.txt", "not a DuckDB database"),
    ],
)
def test_bad_db_path(tmp_path: Path, db: str, needle: str) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "notes.txt").write_text("my notes, not a database" * 10)
    code, lines, data_dir = collect(tmp_path, "--db", str(tmp_path / db))
    assert_refused(code, lines, "db_path", cwd=tmp_path)
    assert needle in lines[0]
    assert not data_dir.exists()
    assert (tmp_path / "notes.txt").read_text().startswith("my notes")  # untouched


# --- symbols -------------------------------------------------------------------------------------


def test_unknown_symbols(tmp_path: Path) -> None:
    code, lines, data_dir = collect(tmp_path, "--symbols", "NIFTY,RELIANC,NOSUCHCO")
    assert_refused(code, lines, "symbols", cwd=tmp_path)
    assert "RELIANC (did you mean RELIANCE?)" in lines[0] and "NOSUCHCO" in lines[0]
    assert not data_dir.exists()


# --- values (config.load_settings) ----------------------------------------------------------------


@pytest.mark.parametrize("rate", ["0", "-1", "-0.5"])
def test_rate_not_positive_flag(tmp_path: Path, rate: str) -> None:
    code, lines, data_dir = collect(tmp_path, f"--rate={rate}")
    assert_refused(code, lines, "rate", cwd=tmp_path)
    assert not data_dir.exists()


def test_rate_not_positive_env(tmp_path: Path) -> None:
    code, lines, _ = collect(tmp_path, env={"NSECHAIN_RATE": "0"})
    assert_refused(code, lines, "rate", cwd=tmp_path)


def test_unknown_toml_key(tmp_path: Path) -> None:
    (tmp_path / "nsechain.toml").write_text('symbols = ["NIFTY"]\nrat = 3\n')
    code, lines, _ = collect(tmp_path)
    assert_refused(code, lines, "rat", cwd=tmp_path)


def test_rate_not_positive_in_toml_named_by_env(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text("rate = 0\n")
    code, lines, _ = collect(tmp_path, env={"NSECHAIN_CONFIG": str(cfg)})
    assert_refused(code, lines, "rate", cwd=tmp_path)


def test_config_file_named_by_env_is_missing(tmp_path: Path) -> None:
    code, lines, _ = collect(tmp_path, env={"NSECHAIN_CONFIG": str(tmp_path / "nope.toml")})
    assert_refused(code, lines, "NSECHAIN_CONFIG", cwd=tmp_path)


def test_long_error_stays_one_line(tmp_path: Path) -> None:
    key = "a_very_long_unknown_setting_name_that_someone_typed_into_their_config_file"
    (tmp_path / "nsechain.toml").write_text(f"{key} = 1\n")
    code, lines, _ = collect(tmp_path)
    assert_refused(code, lines, key, cwd=tmp_path)


def test_malformed_toml(tmp_path: Path) -> None:
    (tmp_path / "nsechain.toml").write_text("rate = \n")
    code, lines, _ = collect(tmp_path)
    assert_refused(code, lines, "nsechain.toml", cwd=tmp_path)


# --- validate_startup directly (fast, independent of the CLI wiring) ------------------------------


@pytest.fixture
def isolated(tmp_path: Path) -> Path:
    return tmp_path  # conftest's _isolated_from_the_shell already moved the test here


def test_validate_startup_accepts_a_sound_config_and_creates_nothing(isolated: Path) -> None:
    s = load_settings(data_dir=isolated / "new" / "data", db_path=isolated / "x.duckdb")
    validate_startup(s)
    validate_startup(load_settings(symbols="ALL", data_dir=isolated / "data"))
    validate_startup(load_settings(symbols="NIFTY,M&M,BAJAJ-AUTO", data_dir=isolated / "data"))
    assert sorted(p.name for p in isolated.iterdir()) == []


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"data_dir": "afile"}, "data_dir: "),
        ({"data_dir": "afile/sub"}, "data_dir: "),
        ({"data_dir": "we[ir]d"}, "glob character"),
        # A database in a folder that does not exist yet: created (issue 15), not refused.
        ({"db_path": "afile/x.duckdb", "data_dir": "data"}, "db_path: "),
        ({"db_path": "afile"}, "not a DuckDB database"),
        ({"symbols": "NIFTY,XYZ123"}, "symbols: "),
    ],
)
def test_validate_startup_refuses(isolated: Path, kw: dict[str, str], needle: str) -> None:
    (isolated / "afile").write_text("x")
    with pytest.raises(ConfigError) as info:
        validate_startup(load_settings(**kw))
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_startup_refuses_a_read_only_parent(isolated: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only folders; permissions cannot be tested as root")
    ro = isolated / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match=r"data_dir: .*not writable"):
            validate_startup(load_settings(data_dir=ro / "data"))
    finally:
        ro.chmod(0o700)
