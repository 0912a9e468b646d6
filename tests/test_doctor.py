"""``nsechain doctor`` against the simulator, a dead port, the bot wall, and (``-m live``) NSE."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nsechain.cli import app
from nsechain.config import load_settings
from nsechain.nse.doctor import diagnose
from nsechain.sim.server import SimConfig, Simulator
from tlsserver import LocalCA, make_ca

START = "2026-11-25T10:00"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=5, speed=0, start=START)) as s:
        yield s


def results(report_steps: list, name: str) -> dict[str, str]:  # type: ignore[type-arg]
    return {s.transport: s.outcome if not s.ok else "ok" for s in report_steps if s.name == name}


def test_doctor_on_the_simulator_passes_every_step(sim: Simulator) -> None:
    report = diagnose(load_settings(base_url=sim.base_url), "NIFTY")
    assert [s.name for s in report.steps[:2]] == ["dns", "tcp"]  # http: no TLS step
    assert results(report.steps, "chain") == {"httpx": "ok", "curl": "ok"}
    assert report.works
    assert all(s.ms >= 0 for s in report.steps)
    result = CliRunner().invoke(app, ["doctor", "--base-url", sim.base_url])
    assert result.exit_code == 0, result.output
    assert "works: direct via httpx, direct via curl" in result.output


def test_doctor_on_a_dead_port_says_check_the_network() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = CliRunner().invoke(app, ["doctor", "--base-url", url])
    assert result.exit_code == 1
    assert "tcp" in result.output and "check the connection" in result.output
    assert "nothing got through" in result.output


def test_doctor_at_the_bot_wall_says_use_the_browser_transport(tmp_path: Path) -> None:
    ca: LocalCA = make_ca(tmp_path)
    config = SimConfig(
        seed=5, speed=0, start=START, tls=(str(ca.cert_pem), str(ca.key_pem)), bot_wall=True
    )
    with Simulator(config) as wall:
        report = diagnose(load_settings(base_url=wall.base_url, ca_bundle=ca.ca_pem), "NIFTY")
        assert [s.name for s in report.steps[:3]] == ["dns", "tcp", "tls"]
        assert results(report.steps, "bootstrap") == {"httpx": "fingerprint_block", "curl": "ok"}
        assert report.works
        assert any('transport = "curl"' in line for line in report.advice)
        result = CliRunner(env={"NSECHAIN_CA_BUNDLE": str(ca.ca_pem)}).invoke(
            app, ["doctor", "--base-url", wall.base_url]
        )
    assert result.exit_code == 0, result.output
    assert "fingerprint_block" in result.output


@pytest.mark.live
def test_doctor_against_the_real_nse() -> None:
    """Off by default: ``pytest -m live tests/test_doctor.py`` on a machine that reaches NSE."""
    result = CliRunner().invoke(app, ["doctor"])
    print(result.output)
    assert result.exit_code == 0, result.output
