"""``nsechain show / pcr / export`` on the hand-made chain of test_query.py."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from nsechain.cli.desk import chain_table, register
from test_query import build_db

WIDE = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "hand.duckdb")


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    return result.exit_code, result.output


def test_show_prints_header_and_chain(app: typer.Typer, db: Path) -> None:
    code, out = run(app, "show", "test", "--db", str(db))
    assert code == 0, out
    assert "TEST expiry 2026-08-27  at 2026-08-20 10:15:05 IST" in out
    assert "spot 101.00" in out
    assert "PCR (OI) 0.69" in out
    assert "max pain 100.00" in out
    assert "ATM IV 21.00%" in out
    for strike in ("90", "100", "110", "120"):
        assert f" {strike} " in out


def test_show_earlier_snapshot_and_fewer_strikes(app: typer.Typer, db: Path) -> None:
    code, out = run(
        app, "show", "TEST", "--db", str(db), "--at", "2026-08-20 10:05", "--strikes", "1"
    )
    assert code == 0, out
    assert "10:00:05" in out
    assert " 120 " not in out  # ATM is 100: one strike each side is 90..110


def test_show_unknown_symbol_is_one_clear_line(app: typer.Typer, db: Path) -> None:
    code, out = run(app, "show", "NOPE", "--db", str(db))
    assert code == 2  # a bad argument (issue 15): exit 2, like every bad flag
    assert "error:" in out and "NOPE" in out
    assert "Traceback" not in out


def test_pcr_command(app: typer.Typer, db: Path) -> None:
    code, out = run(app, "pcr", "TEST", "--db", str(db), "--expiry", "2026-08-27")
    assert code == 0, out
    assert "0.694" in out and "1.100" in out
    code, out = run(app, "pcr", "TEST", "--db", str(db), "--expiry", "27-08-2026")
    assert code != 0 and "YYYY-MM-DD" in out


def test_export_command(app: typer.Typer, db: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "out.csv"
    args = ["export", "--from", "2026-08-20", "--to", "2026-08-20", "--format", "csv"]
    code, out = run(app, *args, "--out", str(out_file), "--symbols", "TEST", "--db", str(db))
    assert code == 0, out
    assert "exported 18 rows" in out
    rows = duckdb.execute("SELECT count(*) FROM read_csv($f)", {"f": str(out_file)}).fetchall()
    assert rows == [(18,)]


def test_chain_table_shades_itm_and_colours_oi_change() -> None:
    chain = [
        {
            "strike": k,
            **{
                f"{s}_{c}": 1.0
                for s in ("ce", "pe")
                for c in ("open_interest", "volume", "iv", "last_price")
            },
            "ce_change_in_oi": 5.0,
            "pe_change_in_oi": -5.0,
        }
        for k in (90.0, 100.0, 110.0)
    ]
    table = chain_table(chain, 101.0, around=5)

    def styles(column: int) -> list[str]:
        return [str(cell.style) for cell in table.columns[column].cells if isinstance(cell, Text)]

    assert "on" in styles(0)[0]  # 90 CE is in the money: shaded
    assert styles(0)[2] == ""  # 110 CE is out of the money
    assert "green" in styles(1)[0]  # CE OI change +5
    assert "red" in styles(-2)[0]  # PE OI change -5
