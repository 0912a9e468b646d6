"""Does the collector use its whole request budget at NSE's latency? (issue 12)

Where it sits: ``bench/``; run ``.venv/bin/python bench/bench_inflight.py`` (about 6 minutes).
For each budget (3 and 10 req/s) and median latency (0, 0.3, 0.6, 1.5 s; p99 = 4 x median),
a simulator process (``nsechain simulate``, its rate limit equal to the budget) and the
threaded manager on an accelerated clock (``--speed`` x, 60 s intervals) run the full F&O
universe from a cold start (no cached expiries) for ``--seconds`` of wall time. Printed per run:

- achieved req/s / budget, counted by the simulator (goal >= 0.95): over the whole run from
  the manager's start, and ``steady`` from ``--warmup`` wall seconds on (a start-up sends the
  bootstrap, the holiday list and the universe one after the other: two or three latencies of
  a short run); the wall seconds to the first request; 403 blocks (goal 0). The simulator's
  rate limit equals the budget, its bucket holds ``--sim-burst-s`` seconds of it;
- the time to the first file holding chain rows, in intervals (goal <= 2);
- the collector's CPU: percent of one core over the run, and CPU ms per request sent;
- per tier, the median and the longest gap between two fetches of one pair, from the files'
  fetch_log, against the plan's promise (goal: longest <= 1.1 x promise), and the longest gap
  between the requests' starts (see ``_gaps``). A short run sees only the tiers whose promise
  is shorter than the run; tiers with no pair fetched twice are not printed.

The simulator runs from ``--sim-python`` (default: this interpreter), so the same measurement
can drive an older collector: ``PYTHONPATH=<old checkout>/src python bench/bench_inflight.py
--sim-pythonpath src``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from nsechain.collector.clock import ScaledClock
from nsechain.collector.manager import OptionsThreadedManager
from nsechain.config import load_settings
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import IST

START = datetime(2026, 11, 25, 9, 20, tzinfo=IST)
CHAINS = ("option-chain-v3", "nextapi-chain")


def _free_port() -> int:
    with socket.socket() as s:  # a free port for the child (port 0 cannot be read back)
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_sim(args: argparse.Namespace, budget: float, median: float) -> tuple[Any, str]:
    port = _free_port()
    env = dict(os.environ)
    if args.sim_pythonpath:
        env["PYTHONPATH"] = args.sim_pythonpath
    cmd = [
        args.sim_python, "-m", "nsechain", "simulate", "--port", str(port),
        "--speed", str(args.speed), "--start", START.strftime("%Y-%m-%dT%H:%M"),
        "--rate-limit", str(budget), "--latency-median", str(median),
        "--latency-p99", str(4 * median), "--latency-per-kb", "0",
        "--rate-burst", str(args.sim_burst_s * budget),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/__admin/counters", timeout=1.0)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start")


def _counters(base: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{base}/__admin/counters", timeout=5.0).json()
    return out


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _files(settings: Any) -> list[Path]:
    return sorted(
        list_tick_files(settings.pending_dir) + list_tick_files(settings.processed_dir),
        key=lambda p: p.name,
    )


def run_one(args: argparse.Namespace, budget: float, median: float) -> dict[str, Any]:
    proc, base = _start_sim(args, budget, median)
    root = Path(tempfile.mkdtemp(prefix="nsechain-bench-inflight-"))
    try:
        settings = load_settings(
            base_url=base, data_dir=root / "data", db_path=root / "b.duckdb", symbols=["ALL"],
            expiries_per_symbol=0, ignore_market_hours=True, rate=budget, interval_s=60.0,
            batch_interval_s=3600.0, timeout_s=30.0, log_level="ERROR", burst=args.burst,
            in_flight=args.in_flight,
        )  # fmt: skip
        httpx.post(f"{base}/__admin/reset", timeout=5.0)
        clock = ScaledClock(START, args.speed)
        httpx.post(
            f"{base}/__admin/clock",
            json={"time": START.isoformat(), "speed": args.speed},
            timeout=5.0,
        )
        manager = OptionsThreadedManager(settings, clock=clock)
        began = time.monotonic()
        first_chain: float | None = None
        first_request: float | None = None
        warm: tuple[float, int] | None = None  # (wall, requests) once the warm-up is over
        cpu0 = _cpu_s()
        manager.start_all_threads()
        seen: set[Path] = set()
        try:
            while time.monotonic() - began < args.seconds:
                time.sleep(0.25)
                if first_request is None or warm is None:
                    total = _counters(base)["requests_total"]
                    if first_request is None and total:
                        first_request = time.monotonic() - began
                    if first_request is not None and time.monotonic() - began >= args.warmup:
                        warm = (time.monotonic(), total)
                for path in _files(settings):
                    if path in seen:
                        continue
                    seen.add(path)
                    if first_chain is None and pq.read_metadata(path).num_rows > 0:
                        first_chain = time.monotonic() - began
            wall = time.monotonic() - began
            cpu = _cpu_s() - cpu0
            counters = _counters(base)
        finally:
            manager.stop_all_threads(timeout=60.0)
        plan = manager.collector.targets.plan_now
        return {
            "budget": budget,
            "median": median,
            "ratio": counters["requests_total"] / wall / budget,
            # After the start-up (bootstrap, holidays, universe: serial) and the warm-up.
            "steady": None
            if warm is None
            else (counters["requests_total"] - warm[1]) / (began + wall - warm[0]) / budget,
            "first_request_s": first_request,
            # The collector's CPU (this process: every thread, the polling loop's reads too).
            "cpu_pct": 100.0 * cpu / wall,
            "cpu_ms_per_req": 1000.0 * cpu / max(1, counters["requests_total"]),
            "blocks": counters["rate_limit"]["blocks"],
            "first_chain_intervals": None
            if first_chain is None
            else first_chain * args.speed / settings.interval_s,
            "tiers": _gaps(settings, plan, args.speed),
        }
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _gaps(settings: Any, plan: Any, speed: float) -> list[tuple[Any, ...]]:
    """Per tier: promise, gaps counted, median and max gap between two snapshots of a pair
    (their ``fetched_at``: when the answer came), and the max gap between the requests'
    starts (``fetched_at`` less the answer's latency: what the scheduler controls). At an
    accelerated clock NSE's latency is not accelerated: a 6 s answer is 60 clock s at 10x, so
    answer-time jitter alone can stretch a gap far past a promise of a few wall seconds."""
    from nsechain.store.files import read_tick_fetch_log

    fetched: defaultdict[tuple[str, Any], list[tuple[datetime, datetime]]] = defaultdict(list)
    for path in _files(settings):
        for row in read_tick_fetch_log(path).to_pylist():
            if row["endpoint"] in CHAINS and row["outcome"] in ("ok", "stale"):
                came = row["fetched_at"]
                went = came - timedelta(milliseconds=(row["latency_ms"] or 0.0) * speed)
                fetched[(row["symbol"], row["expiry"])].append((came, went))
    out = []
    for tier in plan.tiers:
        promise = tier.cadence * settings.interval_s
        came, went = [], []
        for p in tier.pairs:
            seen = sorted(fetched[p])
            came += [(b[0] - a[0]).total_seconds() for a, b in pairwise(seen)]
            went += [(b[1] - a[1]).total_seconds() for a, b in pairwise(seen)]
        med = statistics.median(came) if came else None
        out.append(
            (tier.name, promise, len(came), med, max(came, default=None), max(went, default=None))
        )
    return out


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="wall seconds per run")
    parser.add_argument("--speed", type=float, default=10.0, help="clock seconds per wall s")
    parser.add_argument("--budgets", default="3,10")
    parser.add_argument("--latencies", default="0,0.3,0.6,1.5", help="median, seconds")
    parser.add_argument("--burst", type=int, default=1, help="the collector's token burst")
    parser.add_argument("--in-flight", type=int, default=0, help="workers (0: the default)")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="wall s before the steady rate is counted"
    )
    parser.add_argument(
        "--sim-burst-s",
        type=float,
        default=2.0,
        help="the simulator's bucket in seconds of budget: a loaded machine that stalls the "
        "simulator process for a second makes it see a second's arrivals at once",
    )
    parser.add_argument("--sim-python", default=sys.executable)
    parser.add_argument("--sim-pythonpath", default="")
    args = parser.parse_args()
    print(
        f"{'budget':>6} {'median':>6} {'rate/budget':>11} {'steady':>6} {'1st req':>7} "
        f"{'blocks':>6} {'1st chain':>9} {'cpu%':>5} {'ms/req':>6}  tiers"
    )
    for budget in (float(b) for b in args.budgets.split(",")):
        for median in (float(m) for m in args.latencies.split(",")):
            r = run_one(args, budget, median)
            tiers = "; ".join(
                f"{name} promise {p:g}s n={n} med {_fmt(med, '.0f')} max {_fmt(mx, '.0f')}"
                + ("" if mx is None else f" ({mx / p:.2f}x; starts {sx / p:.2f}x)")
                for name, p, n, med, mx, sx in r["tiers"]
                if n
            )
            print(
                f"{budget:>6g} {median:>6g} {r['ratio']:>11.2f} {_fmt(r['steady']):>6}"
                f" {_fmt(r['first_request_s'], '.1f'):>6}s {r['blocks']:>6}"
                f" {_fmt(r['first_chain_intervals'], '.1f'):>9}"
                f" {r['cpu_pct']:>5.0f} {r['cpu_ms_per_req']:>6.1f}  {tiers}",
                flush=True,
            )


if __name__ == "__main__":
    main()
