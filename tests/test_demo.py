"""``nsechain demo``: a short run records the simulated universe and prints a useful summary."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import duckdb
import httpx
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from nsechain.cli.demo import DemoResult, register, run_demo
from nsechain.sim.server import SimConfig, Simulator
from nsechain.timeutil import IST

KNOWN_OUTCOMES = {
    "ok", "stale", "empty", "blocked", "unauthorized", "bad_payload", "timeout", "http_error",
}  # fmt: skip


def test_short_demo_records_many_symbols_and_prints_a_pcr_line(tmp_path: Path) -> None:
    out = io.StringIO()
    result: DemoResult = run_demo(
        start=datetime(2026, 11, 25, 9, 14, tzinfo=IST),  # the day after a holiday, pre-open
        minutes=5.0,  # a cap: the demo stops after its second tick
        ticks=2,
        rate=60.0,  # the first tick spends ~215 requests on expiry lists
        interval_s=3.0,
        data_dir=tmp_path / "demo",
        console=Console(file=out, width=100),
    )
    printed = out.getvalue()

    assert result.clean_stop and result.kept
    assert result.rows > 0 and result.snapshots > 0 and result.ticks >= 1
    assert result.symbols >= 5, f"only {result.symbols} symbols recorded"
    assert result.outcomes["ok"] > 0 and set(result.outcomes) <= KNOWN_OUTCOMES
    # Every ok chain fetch is one snapshot in DuckDB, loaded exactly once.
    assert result.chain_outcomes["ok"] == result.snapshots
    assert all(n <= result.outcomes[k] for k, n in result.chain_outcomes.items())

    # The summary matches the database it describes.
    con = duckdb.connect(str(result.db_path), read_only=True)
    try:
        db = con.execute("SELECT count(*), count(DISTINCT symbol) FROM option_quotes").fetchone()
        fetches = con.execute("SELECT count(*) FROM fetch_log").fetchone()
    finally:
        con.close()
    assert db == (result.rows, result.symbols)
    assert fetches is not None and fetches[0] == sum(result.outcomes.values())
    assert f"rows {result.rows:,}" in printed and f"symbols {result.symbols:,}" in printed

    # A NIFTY chain around the money, and its OI put-call ratio.
    pcr = result.pcr
    assert pcr is not None and pcr.symbol == "NIFTY"
    assert pcr.ce_oi > 0 and pcr.pcr_oi is not None
    assert abs(pcr.pcr_oi - pcr.pe_oi / pcr.ce_oi) < 1e-9
    assert "OI PCR" in printed and pcr.text() in result.report
    strikes = [row["strike"] for row in result.chain]
    assert len(strikes) >= 3 and strikes == sorted(strikes)
    assert {row["expiry"] for row in result.chain} == {pcr.expiry}

    # The budget held: the simulator never saw more than the token bucket allows.
    assert result.rate_blocks == 0
    assert result.requests <= 60.0 * result.wall_s + 3  # rate x time + the bucket's burst
    assert "req/s" in printed and "budget" in printed


def test_demo_command_is_registered_with_its_options() -> None:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so typer keeps "demo" as a subcommand
        pass

    help_text = CliRunner().invoke(app, ["demo", "--help"]).output
    for option in ("--minutes", "--speed", "--rate", "--data-dir", "--keep", "--no-faults"):
        assert option in help_text


@pytest.mark.parametrize(
    ("start", "first_nifty", "first_stock"),
    [
        # The demo starts at 09:14, before the open: the 23-Nov series (24th is a holiday)
        # expired at the last close, and the new February stock series is listed.
        ("2026-11-25T09:14:00", "01-Dec-2026", "29-Dec-2026"),
        ("2026-11-24T12:00:00", "01-Dec-2026", "29-Dec-2026"),  # the holiday itself
        ("2026-11-25T11:00:00", "01-Dec-2026", "29-Dec-2026"),
        ("2026-11-23T16:00:00", "23-Nov-2026", "23-Nov-2026"),  # expiry day, after the close
    ],
)
def test_simulator_lists_the_days_contracts_before_the_open(
    start: str, first_nifty: str, first_stock: str
) -> None:
    with (
        Simulator(SimConfig(speed=0, start=start)) as sim,
        httpx.Client(base_url=sim.base_url, timeout=10) as client,
    ):
        client.get("/option-chain")
        info = "/api/option-chain-contract-info?symbol="
        nifty = client.get(info + "NIFTY").json()["expiryDates"]
        stock = client.get(info + "RELIANCE").json()["expiryDates"]
    assert (nifty[0], stock[0]) == (first_nifty, first_stock)
    assert len(stock) == 3
