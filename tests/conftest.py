"""Shared test fixtures: the real NSE responses in ../shared/fixtures/nse, and settings."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Real NSE responses live beside the project checkout; tests never copy them in.
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "nse"


def fixture_bytes(name: str) -> bytes:
    """Bytes of a real NSE fixture, or skip the test with a message saying where it should be."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"NSE fixture {name} not found at {FIXTURES} (clone shared/ beside the repo)")
    return path.read_bytes()


@pytest.fixture
def nse_fixture() -> object:
    return fixture_bytes
