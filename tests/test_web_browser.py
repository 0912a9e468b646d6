"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright through
``executable_path``; no browser download): both pages load against a database the simulator
filled, the charts are drawn with data, nothing is fetched from outside loopback, and
screenshots land in the test's tmp dir.

Skips, saying why, when Chromium or the playwright package is missing (``apt-get install -y
chromium`` and the dev extra install them) — or fails, when ``NSECHAIN_REQUIRE_BROWSER=1`` (CI);
otherwise it runs in the default ``make test``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import CSP_LISTENER, SimTime, e2e_settings
from nsechain import OptionsThreadedManager
from nsechain.collector.clock import FixedClock
from nsechain.config import Settings
from nsechain.sim.server import SimConfig, Simulator
from nsechain.timeutil import IST
from nsechain.web import start_dashboard
from nsechain.web.sample import record_session
from nsechain.web.shots import find_chromium, open_browser, wait_loaded

#: CI sets this so that a missing browser fails the run instead of skipping the test.
REQUIRED = os.environ.get("NSECHAIN_REQUIRE_BROWSER") == "1"


def _missing(why: str) -> None:
    if REQUIRED:
        pytest.fail(f"{why} (NSECHAIN_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(why, allow_module_level=True)


try:
    import playwright.sync_api  # noqa: F401
except ImportError:
    _missing("the playwright package is not installed (pip install -e '.[dev]')")
CHROMIUM = find_chromium()
if CHROMIUM is None:
    _missing(
        "no Chromium found ($NSECHAIN_CHROMIUM, /usr/bin/chromium, PATH): the browser test "
        "needs it (apt-get install -y chromium)"
    )

pytestmark = pytest.mark.browser

TICKS = 30
STRIKES_EACH_SIDE = 12


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("browser")
    faults: dict[str, Any] = {"error_5xx": {"every": 37}}
    with Simulator(SimConfig(seed=5, speed=0, start="2026-11-25T09:15:00", faults=faults)) as sim:
        settings = e2e_settings(tmp, sim.base_url)
        record_session(settings, sim, ticks=TICKS, step=timedelta(minutes=5))
        sim.set_clock(start="2026-11-25T11:46:00", speed=0)
        OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()  # leaves status.json
    yield settings


@pytest.fixture(scope="module")
def page(recorded: Settings) -> Iterator[Any]:
    dash_clock = FixedClock(datetime(2026, 11, 25, 11, 47, tzinfo=IST))  # not today
    with (
        start_dashboard(settings=recorded, port=0, clock=dash_clock) as dash,
        open_browser(CHROMIUM) as browser,
    ):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=dash.url)
        context.add_init_script(CSP_LISTENER)
        pg = context.new_page()
        pg.problems = []  # console errors, page errors, requests that left loopback
        pg.on("pageerror", lambda exc: pg.problems.append(f"page error: {exc}"))
        pg.on(
            "console",
            lambda msg: pg.problems.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        pg.on(
            "request",
            lambda req: (
                None
                if req.url.startswith((dash.url, "data:"))
                else pg.problems.append(f"left loopback: {req.url}")
            ),
        )
        yield pg
        context.close()


_CHART_FACTS = """(sel) => {
  const svg = document.querySelector(sel + ' svg');
  if (!svg) return null;
  const bars = [...svg.querySelectorAll('rect.bar')].filter(r => +r.getAttribute('height') > 0);
  const lines = [...svg.querySelectorAll('path.line')].map(p => +p.dataset.n);
  const box = svg.getBoundingClientRect();
  return {bars: bars.length, lines, dots: svg.querySelectorAll('circle.dot').length,
          width: box.width, height: box.height, points: +svg.dataset.points};
}"""


def chart(page: Any, selector: str) -> dict[str, Any]:
    facts: dict[str, Any] | None = page.evaluate(_CHART_FACTS, selector)
    assert facts is not None, f"no chart drawn in {selector}"
    assert facts["width"] > 300 and facts["height"] > 150, facts
    return facts


def test_chain_page_draws_every_chart_with_data(page: Any, tmp_path: Path) -> None:
    wait_loaded(page, "/chain?symbol=NIFTY")
    strikes = 2 * STRIKES_EACH_SIDE + 1
    snapshots = TICKS + 1
    oi = chart(page, "#c-oi")
    assert oi["bars"] >= 2 * strikes - 4  # CE and PE per strike (a zero OI draws no bar)
    assert chart(page, "#c-chg")["bars"] >= strikes
    assert chart(page, "#c-pcr")["lines"] == [snapshots, snapshots]  # OI and volume PCR
    assert chart(page, "#c-pain")["lines"] == [snapshots, snapshots]  # max pain and spot
    assert chart(page, "#c-atm")["lines"] == [snapshots, snapshots]  # ATM IV and straddle
    smile = chart(page, "#c-smile")
    assert smile["lines"][0] >= 30 and smile["dots"] >= 30  # model smile, NSE's IVs
    rows = page.locator("#chain tbody tr")
    assert rows.count() == strikes + 1  # the strikes and the spot line
    assert page.locator("#chain tr.atm").count() == 1
    assert page.locator("#chain td.itm").count() >= strikes * 10 - 20  # one side of each
    assert page.locator("#tiles .tile").count() == 7
    assert "–" not in page.locator("#tiles .value").all_inner_texts()
    page.screenshot(path=str(tmp_path / "chain.png"), full_page=True)
    assert (tmp_path / "chain.png").stat().st_size > 50_000
    assert page.problems == []


def test_time_picker_travels_to_any_collected_minute(page: Any, tmp_path: Path) -> None:
    wait_loaded(page, "/chain?symbol=RELIANCE")
    latest = page.evaluate("document.body.dataset.snapshot")
    assert page.locator("#count").inner_text() == f"{TICKS + 1} of {TICKS + 1}"
    page.click("#prev")
    page.wait_for_function("(t) => document.body.dataset.snapshot !== t", arg=latest)
    previous = page.evaluate("document.body.dataset.snapshot")
    assert previous < latest and page.locator("#count").inner_text() == f"{TICKS} of {TICKS + 1}"
    assert "historical" in page.locator("#livetext").inner_text()
    # The slider goes to the first minute of the day; the URL keeps the place.
    page.locator("#time").fill("0")
    page.wait_for_function("(t) => document.body.dataset.snapshot !== t", arg=previous)
    first = page.evaluate("document.body.dataset.snapshot")
    assert first.startswith("2026-11-25T09:16:00")
    assert page.locator("#clock").inner_text() == "09:16:00"
    assert "at=2026-11-25T09%3A16" in page.url or "at=2026-11-25T09:16" in page.url
    # A click on a chart of the day travels there too.
    box = page.locator("#c-pcr svg").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    page.wait_for_function("(t) => document.body.dataset.snapshot !== t", arg=first)
    assert chart(page, "#c-oi")["bars"] > 0
    page.click("#latest")
    page.wait_for_function("(t) => document.body.dataset.snapshot === t", arg=latest)
    page.screenshot(path=str(tmp_path / "chain_reliance.png"), full_page=True)
    assert page.problems == []


def test_health_page_draws_outcomes_rate_and_freshness(page: Any, tmp_path: Path) -> None:
    wait_loaded(page, "/health")
    outcomes = chart(page, "#c-outcomes")
    assert outcomes["bars"] >= 2  # ok and http_error requests in the last hour
    rate = chart(page, "#c-rate")
    assert rate["lines"] and rate["lines"][0] == 60  # one point per minute of the hour
    fresh = page.locator("#fresh tbody tr")
    assert fresh.count() == 3
    assert set(page.locator("#fresh tbody td:first-child").all_inner_texts()) == {
        "NIFTY",
        "RELIANCE",
        "M&M",
    }
    assert "HTTP 503" in page.locator("#errors").inner_text()
    assert page.locator("#t-market .value").inner_text() in ("Open", "Closed", "Pre-open")
    assert page.locator("#t-collect .value").inner_text() == "Not running"
    # The verdict, as `nsechain status` says it: no collector writes the status any more.
    assert page.locator("#verdict .word").inner_text() == "not recording"
    assert "verdict bad" in (page.locator("#verdict").get_attribute("class") or "")
    assert page.locator("#errors").inner_text().count("No errors in the window ✓") == 0
    page.screenshot(path=str(tmp_path / "health.png"), full_page=True)
    assert page.problems == []


def test_api_reference_renders_offline(page: Any) -> None:
    wait_loaded(page, "/docs")
    paths = page.locator(".op h3 a").all_inner_texts()
    assert "/api/chain/{symbol}" in paths and "/api/health" in paths
    # Built from text nodes: the ``literal`` parts of a description are <code> elements.
    assert page.locator(".op p code").count() > 0
    assert page.locator(".op table.data tbody tr").count() > 5
    assert page.locator(".op details .schema").count() > 0
    assert page.problems == []


def test_no_page_breaks_the_content_security_policy(page: Any) -> None:
    """style-src 'self' without 'unsafe-inline': every page, drawn and used, breaks nothing."""
    for url in ("/health", "/chain?symbol=NIFTY&greeks=1&since=15", "/docs"):
        wait_loaded(page, url)
        svg = page.locator("svg").first
        if svg.count():
            svg.hover()  # the tooltip is placed through the CSSOM
        assert page.evaluate("window.__csp") == [], url
    wait_loaded(page, "/chain?symbol=NIFTY")
    page.locator("#chain tbody tr[data-strike]").first.click()  # a strike's own charts
    page.wait_for_function(
        "() => document.querySelector('#strike-sub').textContent.startsWith('strike')"
    )
    assert page.evaluate("window.__csp") == []
    assert page.problems == []
    # The listener does hear a refusal: an inline style attribute on a page of its own.
    other = page.context.new_page()
    other.goto("/health")
    other.evaluate("document.body.setAttribute('style', 'color: red')")
    other.wait_for_function("() => window.__csp.length > 0")
    assert "style-src" in other.evaluate("window.__csp[0]")
    other.close()


_CLIPPED = """() => {
  const bad = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    bad.push('page ' + root.scrollWidth + '>' + root.clientWidth);
    for (const el of document.querySelectorAll('body *'))
      if (el.getBoundingClientRect().right > root.clientWidth + 1 && !el.closest('.chainwrap'))
        bad.push('wide: ' + el.tagName + '#' + el.id + '.' + el.className);
  }
  for (const el of document.querySelectorAll('td, th, .tile .value, .tile .detail, header.top *')) {
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'auto')
      bad.push(el.tagName + '.' + el.className + ' ' + el.textContent.slice(0, 30));
  }
  for (const wrap of document.querySelectorAll('.chainwrap')) {  // a deliberate scroller
    if (wrap.getBoundingClientRect().right > root.clientWidth + 1) bad.push('scroller overflows');
  }
  return bad;
}"""


@pytest.mark.parametrize("width", [1440, 1280, 390])
def test_pages_fit_every_width_with_greeks_and_a_window(
    page: Any, tmp_path: Path, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    wait_loaded(page, "/chain?symbol=NIFTY&greeks=1&since=15")
    page.wait_for_function("() => document.querySelector('#c-gex svg') !== null")
    page.wait_for_function("() => document.querySelector('#c-term svg') !== null")
    assert page.locator("#chain th", has_text="Delta").count() == 2
    assert chart(page, "#c-chg")["bars"] > 0 if width > 400 else True
    assert "call gamma counts positive" in page.locator("#gex-conv").inner_text()
    assert "over 1 day" in page.locator("#term-sub").inner_text()
    page.locator("#chain tbody tr[data-strike]").first.click()
    page.wait_for_function(
        "() => document.querySelector('#strike-sub').textContent.startsWith('strike')"
    )
    assert page.evaluate(_CLIPPED) == []
    page.screenshot(path=str(tmp_path / f"chain_{width}.png"), full_page=True)
    wait_loaded(page, "/health")
    assert page.evaluate(_CLIPPED) == []
    page.screenshot(path=str(tmp_path / f"health_{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    assert page.problems == []
