"""Files the collector and its readers read are checked: a status.json or a market cache of the
wrong shape is reported in one line and ignored (then replaced), never a KeyError or a 500."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from conftest import e2e_settings
from nsechain.cli import app
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.status import load_status, write_status
from nsechain.config import Settings
from nsechain.market.holidays import cache_path, load_cached
from nsechain.market.universe import load_universe_cache, universe_cache_path
from nsechain.web import start_dashboard

_GOOD_TIME = "2026-11-25T10:00:00+05:30"


class _NeverOpen:
    def is_open(self, now: datetime) -> bool:
        return False

    def next_open(self, now: datetime) -> datetime:
        return now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = e2e_settings(tmp_path, "http://127.0.0.1:9")
    s.market_dir.mkdir(parents=True)
    return s


def _real_status(settings: Settings) -> dict[str, Any]:
    manager = OptionsThreadedManager(settings, market=_NeverOpen())
    try:
        return orjson.loads(orjson.dumps(manager.get_thread_status()))  # as JSON has it
    finally:
        manager.collector.close()


def _broken(settings: Settings) -> dict[str, bytes]:
    """Hostile or damaged status files: valid JSON of the wrong shape, and not JSON."""
    good = _real_status(settings)
    no_batch = {k: v for k, v in good.items() if k != "batch_thread"}
    return {
        "empty object": b"{}",
        "garbage time": orjson.dumps({**good, "updated_at": "garbage"}),
        "naive time": orjson.dumps({**good, "updated_at": "2026-11-25T10:00:00"}),
        "a list": b"[1, 2]",
        "no batch thread": orjson.dumps(no_batch),
        "text counters": orjson.dumps(
            {**good, "collection_thread": {**good["collection_thread"], "restarts": "<b>x</b>"}}
        ),
        "symbol not a dict": orjson.dumps({**good, "symbols": {"NIFTY": 5}}),
        "not JSON": b'{"updated_at": ',
        "binary": b"\x00\xff" * 10,
    }


def test_a_real_status_is_accepted(settings: Settings) -> None:
    status = _real_status(settings)
    write_status(settings.status_path, status)
    assert load_status(settings.status_path) == (status, None)
    write_status(settings.status_path, {**status, "updated_at": _GOOD_TIME, "newer_field": 1})
    assert load_status(settings.status_path)[1] is None  # more keys are fine


def test_a_bad_status_file_is_reported_never_a_crash(settings: Settings) -> None:
    for name, body in _broken(settings).items():
        settings.status_path.write_bytes(body)
        status, problem = load_status(settings.status_path)
        assert status is None and problem is not None, name
        assert str(settings.status_path) in problem and "\n" not in problem, (name, problem)


def test_status_command_says_what_is_wrong(settings: Settings) -> None:
    runner = CliRunner()
    for name, body in _broken(settings).items():
        settings.status_path.write_bytes(body)
        result = runner.invoke(
            app, ["status", "--data-dir", str(settings.data_dir)], env={"COLUMNS": "300"}
        )
        assert result.exit_code == 2, (name, result.output)  # not known to be recording
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "collector status ignored" in lines[0], (name, result.output)


def test_health_page_reports_a_bad_status_instead_of_a_500(settings: Settings) -> None:
    broken = _broken(settings)
    with (
        start_dashboard(settings=settings, port=0) as dash,
        httpx.Client(base_url=dash.url, timeout=30) as client,
    ):
        for name, body in broken.items():
            settings.status_path.write_bytes(body)
            r = client.get("/api/health")
            assert r.status_code == 200, (name, r.text)
            h = r.json()
            assert h["status"] is None, name
            assert any("collector status ignored" in n for n in h["notes"]), (name, h["notes"])


@pytest.mark.parametrize(
    "body",
    [b"{}", b"[]", b'{"format": 1, "listings": [5]}', b'"x"', b"\x00", b'{"listings": {}}'],
)
def test_bad_market_caches_are_ignored_with_a_warning(
    settings: Settings, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    universe, holidays = (
        universe_cache_path(settings.market_dir),
        cache_path(settings.market_dir, 2026),
    )
    universe.write_bytes(body)
    holidays.write_bytes(body)
    with caplog.at_level(logging.WARNING, logger="nsechain.market"):
        assert load_universe_cache(settings.market_dir) is None
        assert load_cached(settings.market_dir, 2026) is None
    assert any("ignoring universe cache" in r.getMessage() for r in caplog.records)
    assert any("ignoring holiday cache" in r.getMessage() for r in caplog.records)
