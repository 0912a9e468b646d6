"""``nsechain simulate`` (registered by the lead's CLI) and the child-process simulator."""

from __future__ import annotations

import httpx
import pytest
import typer
from typer.testing import CliRunner

from nsechain.cli import simulate as cli
from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig


def make_app() -> typer.Typer:
    app = typer.Typer()
    cli.register(app)

    @app.command()
    def other() -> None:  # a second command, so "simulate" stays a named subcommand
        """Nothing."""

    return app


def test_help_lists_every_flag() -> None:
    result = CliRunner().invoke(make_app(), ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in (
        "--port", "--host", "--seed", "--speed", "--start", "--rate-limit", "--cool-off",
        "--cookie-max-age", "--p-5xx", "--p-empty", "--p-block", "--p-truncate", "--p-slow",
        "--slow-delay", "--p-reset", "--p-br", "--p-stale",
    ):  # fmt: skip
        assert flag in result.output


def _ctrl_c() -> None:
    raise KeyboardInterrupt  # the user presses Ctrl+C at once


def test_simulate_serves_until_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_wait_forever", _ctrl_c)
    # A stopped clock: still 09:14, before the open, however long the start-up takes.
    args = ["simulate", "--port", "0", "--speed", "0", "--start", "2026-11-25T09:14"]
    result = CliRunner().invoke(make_app(), [*args, "--p-empty", "0.1", "--rate-limit", "3"])
    assert result.exit_code == 0, result.output
    assert "NSE simulator on http://127.0.0.1:" in result.output
    assert "market closed" in result.output and "stopping" in result.output


def test_bad_start_is_a_usage_error() -> None:
    result = CliRunner().invoke(make_app(), ["simulate", "--start", "tomorrow"])
    assert result.exit_code == 2


def test_simulator_in_a_child_process() -> None:
    config = SimConfig(speed=0, start="2026-11-25T10:00:00")
    with SimulatorProcess(config) as sim, httpx.Client(base_url=sim.base_url) as c:
        c.get("/option-chain")
        assert c.get("/api/option-chain-contract-info?symbol=M%26M").json()["expiryDates"]
        sim.set_faults({"empty": {"every": 1}})
        assert c.get("/api/marketStatus").content == b"{}"
        assert sim.counters()["faults"] == {"empty": 1}
        sim.set_clock("2026-11-25T16:00:00")
        sim.reset()
        assert sim.counters()["requests_total"] == 0
