"""The clock from the settings (``clock_of``): the collector, its views and the CLI edges on
one market time, pinned by ``clock_start`` / ``clock_speed`` / ``clock_anchor``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nsechain.cli.main import app
from nsechain.collector.clock import FixedClock, ScaledClock, WallClock, clock_of
from nsechain.collector.view import status_view
from nsechain.config import load_settings
from nsechain.errors import ConfigError
from nsechain.timeutil import IST

XMAS = datetime(2026, 12, 25, 10, 0, tzinfo=IST)  # an NSE trading holiday (a Friday)


def test_no_clock_start_is_the_wall_clock() -> None:
    assert isinstance(clock_of(load_settings()), WallClock)


def test_speed_zero_stands_at_the_start_and_a_naive_start_is_ist() -> None:
    clock = clock_of(load_settings(clock_start="2026-12-25T10:00", clock_speed=0))
    assert isinstance(clock, FixedClock) and clock.now() == XMAS


def test_an_anchor_puts_a_late_starter_on_the_running_clock() -> None:
    # A harness read the simulator at XMAS when the wall said 12:00:00; this collector starts
    # 30 wall seconds later, at 10x: its clock reads XMAS + 300 s, not XMAS.
    anchor = datetime(2030, 1, 1, 12, 0, 0, tzinfo=IST)
    settings = load_settings(
        clock_start=XMAS.isoformat(), clock_speed=10, clock_anchor=anchor.isoformat()
    )
    clock = clock_of(settings, wall=lambda: anchor + timedelta(seconds=30))
    assert isinstance(clock, ScaledClock) and clock.speed == 10.0
    assert XMAS + timedelta(seconds=300) <= clock.now() < XMAS + timedelta(seconds=360)


def test_the_clock_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSECHAIN_CLOCK_START", "2026-12-25T10:00:00+05:30")
    monkeypatch.setenv("NSECHAIN_CLOCK_SPEED", "0")
    assert clock_of(load_settings()).now() == XMAS


def test_a_bad_clock_setting_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="clock_start"):
        load_settings(clock_start="Christmas")
    with pytest.raises(ConfigError, match="clock_speed"):
        load_settings(clock_speed=-1)


def test_calendar_reads_the_settings_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSECHAIN_CLOCK_START", XMAS.isoformat())
    monkeypatch.setenv("NSECHAIN_CLOCK_SPEED", "0")
    out = CliRunner().invoke(app, ["calendar", "--data-dir", str(tmp_path)]).output
    assert "Friday 25-Dec-2026 10:00 IST" in out
    assert "closed (holiday: Christmas)" in out
    assert "next open: Mon 28-Dec-2026 09:15" in out


def test_plan_placeholder_expiries_follow_the_settings_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Placeholder expiries lie after the clock's date: on a clock far from today the plan
    # still counts every symbol's expiries (none was pruned as already passed).
    monkeypatch.setenv("NSECHAIN_CLOCK_START", "2031-06-02T10:00")
    monkeypatch.setenv("NSECHAIN_CLOCK_SPEED", "0")
    from nsechain.cli.market import with_estimated_expiries
    from nsechain.market.universe import Universe

    today = clock_of(load_settings()).now()
    universe, estimated = with_estimated_expiries(Universe.bundled(), today)
    assert estimated == len(universe.symbols)
    assert all(min(universe.expiries[s]) > today.date() for s in universe.symbols)
    result = CliRunner().invoke(app, ["plan", "--symbols", "NIFTY", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_the_live_view_says_today_on_the_collectors_clock() -> None:
    st = {
        "state": "running",
        "updated_at": None,
        "collection_thread": {
            "alive": True, "restarts": 0, "last_tick_at": "2026-12-28T09:59:00+05:30",
            "ticks": 1, "rows_written": 0, "fetches": {}, "last_error": None,
            "next_tick_at": "2026-12-28T10:01:00+05:30",
        },
        "batch_thread": {
            "alive": True, "restarts": 0, "last_batch_at": None, "batches": 0,
            "files_loaded": 0, "rows_loaded": 0, "pending_files": 0, "last_error": None,
        },
        "market": {"phase": "open", "next_open": "2026-12-29T09:15:00+05:30"},
    }  # fmt: skip
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(status_view(st, now=datetime(2026, 12, 28, 10, 0, 30, tzinfo=IST)))
    text = console.export_text()
    assert "next tick 10:01:00" in text  # today on the clock: a time, no date
    assert "next open Tue 29-Dec 09:15" in text
    assert "tick 90s ago" in text
