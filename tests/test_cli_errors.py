"""Every command answers a bad argument the same way: ONE line naming it, and exit 2.

The cases a new user met (issue 15): each used to print a traceback, an empty result with
exit 0, or a box of usage text. Run through the real ``nsechain`` app, as the shell runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nsechain.cli import app
from test_query import build_db

WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}
EXPORT = ["export", "--from", "2026-08-20", "--to", "2026-08-20", "--out", "x.parquet"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(tmp_path_factory.mktemp("desk") / "hand.duckdb")


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, list(args), env=WIDE, prog_name="nsechain")
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def one_error(code: int, lines: list[str], *words: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], lines


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["pcr", "FOO"], ["unknown symbol 'FOO'", "the database holds TEST"]),
        (["pcr", "TEST", "--expiry", "2026-08-28"], ["no recorded expiry 2026-08-28", "08-27"]),
        (["show", "FOO"], ["unknown symbol 'FOO'", "TEST"]),
        (["show", "TEST", "--expiry", "2030-01-01"], ["2030-01-01", "recorded are"]),
        (["show", "TEST", "--strikes", "-3"], ["'--strikes'"]),
        (["show", "TEST", "--at", "ten"], ["--at:", "'ten' is not a time"]),
        (["show", "TEST", "--expiry", "27-08-2026"], ["--expiry:", "YYYY-MM-DD"]),
        (["pcr", "TEST", "--last", "0"], ["'--last'"]),
        (["pcr", "TEST", "--basis", "odd"], ["--basis:", "constant or ffill"]),
        ([*EXPORT[:2], "2026-08-21", *EXPORT[3:]], ["--from:", "after --to"]),
        ([*EXPORT, "--symbols", "FOO"], ["unknown symbol 'FOO'", "TEST"]),
        ([*EXPORT, "--format", "xls"], ["--format:"]),
        (["export", "--to", "2026-08-20", "--out", "x.parquet"], ["--from"]),
    ],
)  # fmt: skip
def test_a_bad_desk_argument_is_one_line_and_exit_2(
    db: Path, args: list[str], words: list[str]
) -> None:
    one_error(*run(*args, "--db", str(db)), *words)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["collect", "--bogus"], ["No such option: --bogus", "nsechain collect --help"]),
        (["collect", "--rate", "-1"], ["rate"]),
        (["status", "--json", "extra"], ["extra"]),
        (["nope"], ["No such command 'nope'"]),
        (["show", "TEST", "--db", "/nonexistent/x.duckdb"], ["--db", "no such database"]),
    ],
)
def test_other_bad_arguments_are_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    one_error(*run(*args), *words)


def test_a_clock_time_means_that_time_on_the_latest_day(db: Path) -> None:
    code, lines = run("show", "TEST", "--at", "10:05", "--db", str(db))
    assert code == 0, lines
    assert "at 2026-08-20 10:00:05 IST" in lines[0]


def test_export_creates_the_folder_it_writes_into(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "day.parquet"
    code, lines = run(
        "export", "--from", "2026-08-20", "--to", "2026-08-20", "--out", str(out), "--db", str(db)
    )
    assert code == 0, lines
    assert out.is_file() and "exported" in lines[-1]
