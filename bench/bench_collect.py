"""What the collector costs and whether it keeps to its budget, against the NSE simulator.

Where it sits: ``bench/``; run ``.venv/bin/python bench/bench_collect.py`` (about 2 minutes).
The simulator runs in a child process (``SimulatorProcess``), so its CPU is not counted; the
collector runs in this process, so ``time.process_time()`` (all threads of this process) is
the collector's CPU.

Two parts:

1. **Full-universe ticks.** ``Collector.run_tick`` back to back with a plan whose capacity
   holds every (symbol, expiry) pair of the whole F&O universe (rate x interval large enough),
   so each tick fetches, parses and writes all ~640 chains. Reports collector CPU seconds per
   full-universe tick, rows per tick and CPU per chain. A first tick fetches the universe and
   every symbol's expiries (~215 calls) and is reported on its own line.
2. **Budgets.** The threaded manager (collection, batch, monitor threads) runs for a fixed wall
   time at each configured budget (default 3 and 20 req/s; expiries from the first part's
   cache, so no refresh sweep), while this process polls the simulator's
   ``/__admin/counters`` once a second. Reports requests per second achieved against
   ``settings.rate`` (on average, and the busiest 1-second window) and rate-limit blocks.
   The plan leaves ``plan_headroom`` (20 %) of the budget free for retries and refreshes, so
   about 80 % is the expected average.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nsechain.cli.demo import next_session_start
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.collector.tick import Collector
from nsechain.config import Settings, load_settings
from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig
from nsechain.timeutil import IST, now_ist


def _settings(root: Path, base_url: str, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "base_url": base_url,
        "data_dir": root / "data",
        "db_path": root / "bench.duckdb",
        "symbols": ["ALL"],
        "expiries_per_symbol": 0,
        "ignore_market_hours": True,
        "timeout_s": 30.0,
        "log_level": "WARNING",
    }
    return load_settings(**(base | kw))


@dataclass
class TickRow:
    label: str
    planned: int
    ok: int
    rows: int
    wall_s: float
    cpu_s: float


def full_universe_ticks(base_url: str, root: Path, ticks: int, rate: float) -> list[TickRow]:
    # interval 60 s (the real cadence) x rate: capacity far above the ~640 pairs, so the plan
    # puts every pair in every tick. Ticks run back to back; the interval only sizes the plan.
    settings = _settings(root, base_url, rate=rate, burst=10, interval_s=60.0)
    collector = Collector(settings)
    out: list[TickRow] = []
    try:
        for i in range(ticks + 1):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            result = collector.run_tick(now_ist())
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            label = "refresh + full" if i == 0 else f"full {i}"
            out.append(
                TickRow(label, result.planned, result.outcomes["ok"], result.quote_rows, wall, cpu)
            )
            plan = collector.targets.plan_now
            assert plan.full_refresh_ticks == 1, "the plan does not fetch every pair each tick"
    finally:
        collector.close()
    return out


@dataclass
class BudgetRow:
    budget: float
    wall_s: float
    requests: int
    peak_1s: float  # busiest ~1 s polling window, req/s
    busy_1s: float  # median of the windows with any traffic, req/s
    ticks: int
    rows: int
    cpu_s: float
    planned_per_tick: int


def budget_run(
    sim: SimulatorProcess, root: Path, cache_from: Path, budget: float, seconds: float,
    interval_s: float,
) -> BudgetRow:  # fmt: skip
    settings = _settings(
        root, sim.base_url, rate=budget, interval_s=interval_s, batch_interval_s=15.0,
        status_interval_s=1.0,
    )  # fmt: skip
    # Start from the first part's universe and expiries: no ~215-call refresh sweep.
    settings.market_dir.mkdir(parents=True, exist_ok=True)
    for cached in cache_from.glob("*.json"):
        shutil.copy2(cached, settings.market_dir / cached.name)
    manager = OptionsThreadedManager(settings)
    sim.reset()
    samples = [(time.perf_counter(), 0)]
    cpu0 = time.process_time()
    began = samples[0][0]
    manager.start_all_threads()
    try:
        deadline = began + seconds
        while (left := deadline - time.perf_counter()) > 0:
            time.sleep(min(1.0, left))
            samples.append((time.perf_counter(), int(sim.counters()["requests_total"])))
    finally:
        manager.stop_all_threads(timeout=60.0)
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu0
    final = int(sim.counters()["requests_total"])
    rates = [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in itertools.pairwise(samples)]
    busy = sorted(r for r in rates if r > 0)
    totals = manager.collector.totals
    return BudgetRow(
        budget=budget,
        wall_s=wall,
        requests=final,
        peak_1s=max(rates, default=0.0),
        busy_1s=busy[len(busy) // 2] if busy else 0.0,
        ticks=int(totals["ticks"]),
        rows=int(totals["rows_written"]),
        cpu_s=cpu,
        planned_per_tick=manager.collector.targets.plan_now.max_requests_per_tick,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=3, help="full-universe ticks to time")
    parser.add_argument("--full-rate", type=float, default=200.0, help="req/s for part 1")
    parser.add_argument("--budgets", default="3,20", help="req/s budgets for part 2")
    parser.add_argument("--seconds", type=float, default=40.0, help="wall time per budget")
    parser.add_argument("--interval", type=float, default=10.0, help="tick interval, part 2")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated clock speed")
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",") if b.strip()]

    start: datetime = next_session_start()
    # No rate limit in the simulator: the collector's own token bucket is what is measured.
    config = SimConfig(seed=1, speed=args.speed, start=start, prewarm=True)
    root = Path(tempfile.mkdtemp(prefix="nsechain-bench-collect-"))
    try:
        with SimulatorProcess(config) as sim:
            print(
                f"simulator: child process, {start:%d-%b-%Y %H:%M} IST, speed {args.speed:g}; "
                f"collector: this process"
            )
            full = full_universe_ticks(sim.base_url, root / "full", args.ticks, args.full_rate)
            cache = root / "full" / "data" / "market"
            rows = [
                budget_run(sim, root / f"budget-{b:g}", cache, b, args.seconds, args.interval)
                for b in budgets
            ]
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"1. Full-universe ticks (every (symbol, expiry) pair, rate {args.full_rate:g} req/s)")
    print(
        f"{'tick':<16}{'planned':>8}{'ok':>6}{'rows':>10}{'wall s':>9}{'CPU s':>8}"
        f"{'CPU ms/chain':>14}{'rows/CPU s':>12}"
    )
    for t in full:
        per_chain = 1000 * t.cpu_s / t.ok if t.ok else float("nan")
        print(
            f"{t.label:<16}{t.planned:>8}{t.ok:>6}{t.rows:>10,}{t.wall_s:>9.2f}{t.cpu_s:>8.2f}"
            f"{per_chain:>14.2f}{t.rows / t.cpu_s:>12,.0f}"
        )
    steady = full[1:] or full
    cpu = sum(t.cpu_s for t in steady) / len(steady)
    rows_per_tick = sum(t.rows for t in steady) / len(steady)
    print(
        f"=> collector CPU per full-universe tick: {cpu:.2f} s ({rows_per_tick:,.0f} rows); "
        f"at one full tick a minute that is {cpu / 60:.1%} of one core"
    )
    print()
    print(f"2. Budgets ({args.seconds:g} s each, tick every {args.interval:g} s, threaded manager)")
    print(
        f"{'budget':>7}{'wall s':>8}{'requests':>10}{'req/s':>8}{'of budget':>11}"
        f"{'busy 1 s':>10}{'peak 1 s':>10}{'ticks':>7}{'plan/tick':>11}{'rows/tick':>11}"
        f"{'CPU s/tick':>12}"
    )
    for b in rows:
        rate = b.requests / b.wall_s
        ticks = max(b.ticks, 1)
        print(
            f"{b.budget:>7g}{b.wall_s:>8.1f}{b.requests:>10}{rate:>8.2f}{rate / b.budget:>11.0%}"
            f"{b.busy_1s:>10.1f}{b.peak_1s:>10.1f}{b.ticks:>7}{b.planned_per_tick:>11}"
            f"{b.rows / ticks:>11,.0f}{b.cpu_s / ticks:>12.2f}"
        )
    print(
        "req/s: simulator-counted requests / wall time, idle time between ticks included; the "
        "plan uses at most 80% of the budget (20% headroom).\nbusy 1 s / peak 1 s: median and "
        "highest req/s over ~1 s polls of /__admin/counters that saw traffic (the token bucket "
        "allows the budget plus a burst of 3)."
    )
    print(f"finished {now_ist().astimezone(IST):%H:%M:%S} IST")


if __name__ == "__main__":
    main()
