"""A recorded day from the simulator, for the dashboard's tests, screenshots and a quick look.

Where it sits: beside the dashboard; nothing in the collector uses it. ``record_session``
drives the real collector (``Collector.run_tick``: HTTP, parser, Parquet writer) against a
``Simulator`` whose clock it steps, then the real loader, so the database is exactly what a
collector would have written, only without waiting for the minutes to pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from nsechain.collector.clock import FixedClock
from nsechain.collector.manager import make_loader
from nsechain.collector.tick import Collector, TickResult
from nsechain.config import Settings
from nsechain.sim.server import Simulator
from nsechain.store.loader import LoadResult
from nsechain.timeutil import IST

__all__ = ["record_session"]


def record_session(
    settings: Settings,
    sim: Simulator,
    *,
    start: datetime | str = "2026-11-25T09:16:00",
    ticks: int = 75,
    step: timedelta = timedelta(minutes=5),
) -> tuple[list[TickResult], LoadResult]:
    """``ticks`` snapshots of the simulated market, ``step`` apart from ``start`` (IST), fetched
    by the real collector with ``settings`` (whose ``base_url`` must be ``sim``'s), then
    loaded into ``settings.db_path``. The simulator's clock is left stopped at the last tick."""
    first = datetime.fromisoformat(start) if isinstance(start, str) else start
    if first.tzinfo is None:
        first = first.replace(tzinfo=IST)
    clock = FixedClock(first)  # the collector lives in the simulator's time, not today's
    collector = Collector(settings, clock=clock)
    results = []
    try:
        for i in range(ticks):
            clock.set(first + i * step)
            sim.set_clock(start=clock.now(), speed=0)
            results.append(collector.run_tick(clock.now()))
    finally:
        collector.close()
    loader = make_loader(settings)
    return results, loader.load_pending()
