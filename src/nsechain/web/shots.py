"""The dashboard in a real headless browser: Debian's ``chromium`` driven by Playwright.

Where it sits: a development tool. ``tests/test_web_browser.py`` opens the pages with
``open_browser`` and checks the charts; ``python -m nsechain.web.shots docs`` makes the
README's screenshots from a simulated session with a live collector. Playwright is a
development dependency and never downloads a browser here (no ``playwright install``): it
starts the system's Chromium through ``executable_path``.

Usage::

    python -m nsechain.web.shots docs            # docs/chain.png and docs/health.png
    python -m nsechain.web.shots docs --live-s 120
    python -m nsechain.web.shots docs --verdicts  # docs/health-{not-recording,recording}.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

__all__ = ["CHROMIUM_ARGS", "find_chromium", "open_browser", "wait_loaded"]

#: Headless, no sandbox (containers run as root), nothing that phones home.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}


def find_chromium() -> str | None:
    """``$NSECHAIN_CHROMIUM`` if set (None if it is not an executable), else
    ``/usr/bin/chromium`` (Debian's package), else ``chromium`` on PATH."""
    chosen = os.environ.get("NSECHAIN_CHROMIUM")
    for candidate in [chosen] if chosen else ["/usr/bin/chromium"]:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    if chosen:
        return None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def open_browser(executable: str | None = None) -> Iterator[Browser]:
    """The system Chromium, headless, for the duration of the ``with``."""
    from playwright.sync_api import sync_playwright

    path = executable or find_chromium()
    if path is None:
        raise FileNotFoundError("no chromium found (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def wait_loaded(page: Page, url: str, timeout_ms: float = 30_000) -> None:
    """Open ``url`` and wait until its script says it has drawn with data."""
    page.goto(url)
    page.wait_for_selector("body[data-loaded='1']", timeout=timeout_ms)


def screenshot(page: Page, url: str, out: Path) -> None:
    wait_loaded(page, url)
    page.wait_for_timeout(300)  # let a resize redraw settle before the picture
    page.mouse.move(0, 0)
    page.screenshot(path=str(out), full_page=True)


# --- the README's pictures ----------------------------------------------------------------------


def make_docs_screenshots(out_dir: Path, *, live_s: float = 600.0) -> None:
    """A simulated morning recorded at 5-minute steps, then a collector running live (one
    simulated minute per tick, a few faults injected) with the dashboard in its process, as
    ``nsechain collect --dashboard`` runs it; the pictures are taken while it runs."""
    from nsechain.collector.manager import OptionsThreadedManager
    from nsechain.config import load_settings
    from nsechain.sim.server import SimConfig, Simulator
    from nsechain.web.sample import record_session
    from nsechain.web.server import start_dashboard

    faults: dict[str, Any] = {
        "empty": {"probability": 0.006},
        "error_5xx": {"probability": 0.008},
        "slow": {"probability": 0.004, "delay_s": 2.5},
        "block": {"every": 900},
    }
    interval = 6.0
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nsechain-shots-") as tmp:
        root = Path(tmp)
        config = SimConfig(seed=11, speed=0, start="2026-11-25T09:15:00", faults=faults)
        with Simulator(config) as sim:
            settings = load_settings(
                base_url=sim.base_url,
                data_dir=root / "data",
                db_path=root / "options_chain_data.duckdb",
                symbols="NIFTY,BANKNIFTY,FINNIFTY,RELIANCE,HDFCBANK,M&M,TCS",
                expiries_per_symbol=2,
                interval_s=interval,
                batch_interval_s=30,
                ignore_market_hours=True,
                timeout_s=2.0,
                backoff_base_s=0.2,
                block_cooloff_s=20,
            )
            record_session(
                settings, sim, start="2026-11-25T09:16:00", ticks=45, step=timedelta(minutes=5)
            )
            sim.set_clock(start="2026-11-25T13:00:00", speed=60 / interval)
            manager = OptionsThreadedManager(settings)
            manager.start_all_threads()
            try:
                with start_dashboard(manager, port=0) as dash, open_browser() as browser:
                    time.sleep(live_s)
                    manager.load_now()
                    page = browser.new_page(viewport=VIEWPORT)
                    screenshot(page, f"{dash.url}/chain?symbol=NIFTY", out_dir / "chain.png")
                    screenshot(page, f"{dash.url}/health", out_dir / "health.png")
                    page.close()
            finally:
                manager.stop_all_threads(timeout=60)


def make_verdict_screenshots(out_dir: Path, *, timeout_s: float = 120.0) -> None:
    """The health page in both states: a collector whose NSE is a dead port (not recording,
    with the reason), then one against the simulator (recording)."""
    import socket

    from nsechain.collector.manager import OptionsThreadedManager
    from nsechain.config import load_settings
    from nsechain.sim.server import SimConfig, Simulator
    from nsechain.web.server import start_dashboard

    def shoot(base_url: str, want: str, name: str, root: Path) -> None:
        settings = load_settings(
            base_url=base_url,
            data_dir=root / "data",
            symbols="NIFTY,BANKNIFTY,RELIANCE,M&M",
            expiries_per_symbol=2,
            interval_s=10.0,
            batch_interval_s=10.0,
            ignore_market_hours=True,
            check_exchange_ts=False,  # the simulator replays another day than the wall clock
            timeout_s=2.0,
            backoff_base_s=0.2,
        )
        manager = OptionsThreadedManager(settings)
        manager.start_all_threads()
        try:
            with start_dashboard(manager, port=0) as dash, open_browser() as browser:
                deadline = time.monotonic() + timeout_s
                while manager.get_thread_status()["verdict"]["verdict"] != want:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the verdict never became {want!r}")
                    time.sleep(0.5)
                time.sleep(25.0)  # a couple of intervals and a load: the charts have something
                page = browser.new_page(viewport=VIEWPORT)
                screenshot(page, f"{dash.url}/health", out_dir / name)
                page.close()
        finally:
            manager.stop_all_threads(timeout=60)

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nsechain-shots-") as tmp, socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
        port = dead.getsockname()[1]
        shoot(
            f"http://127.0.0.1:{port}", "not recording", "health-not-recording.png", Path(tmp) / "a"
        )
        with Simulator(SimConfig(seed=11, speed=6, start="2026-11-25T10:00:00")) as sim:
            shoot(sim.base_url, "recording", "health-recording.png", Path(tmp) / "b")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path, help="where chain.png and health.png go")
    parser.add_argument("--live-s", type=float, default=600.0, help="live collection before")
    parser.add_argument("--verdicts", action="store_true", help="the health page in both states")
    args = parser.parse_args(argv)
    if args.verdicts:
        make_verdict_screenshots(args.out_dir)
        return
    make_docs_screenshots(args.out_dir, live_s=args.live_s)


if __name__ == "__main__":
    main()
