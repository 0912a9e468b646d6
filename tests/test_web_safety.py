"""The dashboard is safe to leave running: only loopback Host names are answered (a DNS
rebinding page gets nothing), every answer carries CSP, nosniff and no-framing headers, and
in real headless Chromium a hostile status.json shows its HTML as text: no element is made
from it and no script runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import CSP_LISTENER, e2e_settings
from nsechain.collector.status import load_status
from nsechain.config import Settings
from nsechain.web import start_dashboard
from nsechain.web.guard import CSP
from nsechain.web.shots import find_chromium, open_browser, wait_loaded

REQUIRED = os.environ.get("NSECHAIN_REQUIRE_BROWSER") == "1"
_XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
_WHEN = "2026-11-25T10:00:00+05:30"


def _hostile_status() -> dict[str, Any]:
    """A status of the right shape whose every free-text field carries HTML."""
    thread = {"alive": True, "restarts": 0, "last_error": "boom " + _XSS}
    return {
        "updated_at": _WHEN,
        "pid": 1,
        "state": "collecting " + _XSS,
        "market": {"phase": "open " + _XSS, "reason": _XSS, "next_open": None},
        "settings": {"rate": 3.0, "interval_s": 60},
        "collection_thread": {
            **thread,
            "last_tick_at": _WHEN,
            "ticks": 1,
            "rows_written": 10,
            "fetches": {"ok": 1},
            "tick_in_flight": [1, 2],
        },
        "batch_thread": {
            **thread,
            "last_batch_at": _WHEN,
            "batches": 1,
            "files_loaded": 1,
            "rows_loaded": 10,
            "pending_files": 0,
            "lock_waits": 2,
            "db_error": _XSS,
        },
        "symbols": {
            "NIFTY" + _XSS: {"last_ok_at": _WHEN, "exchange_ts": _WHEN, "last_outcome": _XSS}
        },
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = e2e_settings(tmp_path, "http://127.0.0.1:9")
    s.data_dir.mkdir(parents=True)
    s.status_path.write_bytes(orjson.dumps(_hostile_status()))
    assert load_status(s.status_path)[1] is None  # accepted: the shape is right
    return s


@pytest.fixture
def dash_url(settings: Settings) -> Iterator[str]:
    with start_dashboard(settings=settings, port=0) as dash:
        yield dash.url


def test_only_loopback_host_names_are_answered(dash_url: str) -> None:
    port = dash_url.rsplit(":", 1)[1]
    with httpx.Client(base_url=dash_url, timeout=30) as client:
        for host in ("evil.example", f"evil.example:{port}", "192.168.1.5"):
            r = client.get("/api/health", headers={"Host": host})
            assert r.status_code == 400 and "collection_thread" not in r.text, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert client.get("/api/health", headers={"Host": host}).status_code == 200, host


def test_a_configured_host_name_is_answered(tmp_path: Path) -> None:
    s = e2e_settings(tmp_path, "http://127.0.0.1:9", dashboard_hosts="desk.lan,127.0.0.1")
    with (
        start_dashboard(settings=s, port=0) as dash,
        httpx.Client(base_url=dash.url, timeout=30) as client,
    ):
        assert client.get("/api/health", headers={"Host": "desk.lan"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 400


def test_every_answer_carries_the_security_headers(dash_url: str) -> None:
    with httpx.Client(base_url=dash_url, timeout=30) as client:
        for url in ("/health", "/chain", "/api/health", "/static/health.js", "/nope"):
            r = client.get(url)
            assert r.headers["content-security-policy"] == CSP, url
            assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
            assert r.headers["x-content-type-options"] == "nosniff", url
            assert r.headers["x-frame-options"] == "DENY", url
        refused = client.get("/health", headers={"Host": "evil.example"})
        assert refused.headers["x-content-type-options"] == "nosniff"


def test_no_page_script_parses_html_strings() -> None:
    static = Path(__file__).resolve().parents[1] / "src" / "nsechain" / "web" / "static"
    scripts = sorted(static.glob("*.js"))
    assert {p.name for p in scripts} >= {"common.js", "health.js", "chain.js", "docs.js"}
    for path in scripts:
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text, f"{path.name} uses {sink}"


def test_no_inline_style_in_the_pages() -> None:
    """The CSP allows no inline style; the pages carry none (the browser test proves it)."""
    assert "'unsafe-inline'" not in CSP and "style-src 'self';" in CSP
    static = Path(__file__).resolve().parents[1] / "src" / "nsechain" / "web" / "static"
    for page in sorted(static.glob("*.html")):
        text = page.read_text()
        assert "<style" not in text and "style=" not in text, page.name


@pytest.mark.browser
def test_hostile_status_renders_as_text_in_chromium(dash_url: str) -> None:
    chromium = find_chromium()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        if REQUIRED:
            pytest.fail("no Chromium or playwright (NSECHAIN_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip("no Chromium or playwright: the XSS test needs both")
    with open_browser(chromium) as browser:
        context = browser.new_context(base_url=dash_url)
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        wait_loaded(page, "/health")
        facts = page.evaluate(
            """() => ({xss: window.__xss || null,
                       imgs: document.querySelectorAll('main img, header img').length,
                       scripts: document.querySelectorAll('script:not([src])').length,
                       text: document.body.innerText})"""
        )
        context.close()
    assert errors == []
    assert facts["xss"] is None and facts["imgs"] == 0 and facts["scripts"] == 0
    text = facts["text"]
    assert '<img src=x onerror="window.__xss=1">' in text  # shown, as text
    assert "collecting <img" in text and "NIFTY<img" in text and "boom <img" in text
