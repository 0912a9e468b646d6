"""``nsechain show / pcr / export`` on the hand-made chain of test_query.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from nsechain.cli.desk import chain_table, fitted_chain_table, register
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


def _nifty_like_chain(greeks: bool) -> list[dict[str, Any]]:
    """Five strikes of NIFTY size: five-digit strikes, six-digit OI, signed greeks."""
    rows = []
    for i, k in enumerate((24_350.0, 24_400.0, 24_450.0, 24_500.0, 24_550.0)):
        row: dict[str, Any] = {"strike": k}
        for side, sign in (("ce", 1), ("pe", -1)):
            row |= {
                f"{side}_open_interest": 1_234_567.0 + i,
                f"{side}_change_in_oi": -123_456.0 * sign,
                f"{side}_volume": 9_876_543.0,
                f"{side}_iv": 14.25,
                f"{side}_last_price": 1_234.55,
            }
            if greeks:
                row |= {
                    f"{side}_model_iv": 13.91,
                    f"{side}_delta": 0.512 * sign,
                    f"{side}_gamma": 0.00123,
                    f"{side}_theta": -12.34,
                    f"{side}_vega": 12.81,
                }
        rows.append(row)
    return rows


@pytest.mark.parametrize("greeks", [True, False], ids=["greeks", "plain"])
@pytest.mark.parametrize("width", [80, 120])
def test_compact_chain_drops_columns_never_cuts_a_number(width: int, greeks: bool) -> None:
    console = Console(width=width, file=io.StringIO(), no_color=True)
    table, gone = fitted_chain_table(
        console, _nifty_like_chain(greeks), 24_460.0, around=5, greeks=greeks
    )
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    for strike in ("24,350", "24,400", "24,450", "24,500", "24,550"):
        assert f" {strike} " in out
    assert "1,234.55" in out  # LTP stays; and the first to go are whole columns
    if greeks:  # the least useful go first: vega and gamma, before delta or LTP
        assert "Delta" in out and "-0.512" in out
        assert {"Gamma", "Vega"} <= set(gone) and "Delta" not in gone
    elif width == 80:  # seven-digit OI: volume goes, then the OI change
        assert gone == ["Chng OI", "Volume"]
    else:
        assert gone == []


@pytest.mark.parametrize("width", ["80", "120"])
def test_show_greeks_fits_the_terminal(app: typer.Typer, db: Path, width: str) -> None:
    env = {"COLUMNS": width, "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["show", "TEST", "--db", str(db), "--greeks"], env=env)
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.output.splitlines() if " 100 " in line]
    assert table_lines and all(len(line) <= int(width) for line in table_lines)
    assert "…" not in result.output
    for strike in ("90", "100", "110", "120"):
        assert f" {strike} " in result.output
    assert "Delta" in result.output
