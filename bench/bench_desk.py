"""Benchmark: the trader's desk on the synthetic ~20M-row day of ``bench_analytics.py``.

Where it sits: run by hand or by ``make bench``; nothing imports it. Builds the day once
(cached at ``--db``, default /tmp/nsechain-bench-desk.duckdb; rebuilt with ``--rebuild``),
adds four earlier copies of the NIFTY rows (1-4 days before, quotes and loaded_snapshots) so
IV rank has 5 days of history, fills the loader's per-snapshot ATM rows (``snapshot_atm``, as
a load or an upgrade does), then prints medians (targets in brackets, never asserted) beside
the plain chain as the baseline (with the best time and the CPU time: the machine is shared),
IV rank beside the same ATM series computed from ``option_quotes`` (what it cost before
``snapshot_atm``), and the chain on a desk that opens the file per call beside the default
desk that keeps its connection between calls (issue 20):

    chain with greeks, NIFTY, all strikes   [<= 50 ms]    window ΔOI   [<= 50 ms]
    surface, NIFTY (18 expiries)            [<= 200 ms]   IV rank, 5 days [<= 100 ms]

    python bench/bench_desk.py [--db PATH] [--rebuild] [--minutes 375] [--stocks 205]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analytics import generate
from nsechain.analytics import trader_sql as tsql
from nsechain.analytics.sql import compose
from nsechain.query import connect
from nsechain.store.summaries import SNAPSHOT_ATM, rebuild_atm

_COPY_DAYS = """
INSERT INTO option_quotes
SELECT q.* REPLACE (q.exchange_ts - INTERVAL (d) DAY AS exchange_ts,
                    q.fetched_at - INTERVAL (d) DAY AS fetched_at)
FROM option_quotes AS q, range(1, 5) AS t(d) WHERE q.symbol = 'NIFTY';
INSERT INTO loaded_snapshots
SELECT s.* REPLACE (s.exchange_ts - INTERVAL (d) DAY AS exchange_ts)
FROM loaded_snapshots AS s, range(1, 5) AS t(d) WHERE s.symbol = 'NIFTY';
"""


def build(path: Path, minutes: int, stocks: int) -> None:
    t0 = time.perf_counter()
    rows = generate(path, minutes, stocks, "symbol") if not path.exists() else -1
    con = duckdb.connect(str(path))
    con.execute(_COPY_DAYS)
    rebuild_atm(con)
    (total,) = con.execute("SELECT count(*) FROM option_quotes").fetchall()[0]
    con.close()
    took = time.perf_counter() - t0
    print(f"built {rows:,} rows (+ NIFTY x4 earlier days = {total:,}) in {took:.0f} s")


def _has_history(path: Path) -> bool:
    con = duckdb.connect(str(path), read_only=True)
    sql = "SELECT count(DISTINCT exchange_ts::DATE) FROM loaded_snapshots WHERE symbol = 'NIFTY'"
    (days,) = con.execute(sql).fetchall()[0]
    con.close()
    return bool(days >= 5)


def _ensure_atm(path: Path) -> None:
    """A cache built before ``snapshot_atm``: fill it as an upgrade would (once)."""
    con = duckdb.connect(str(path))
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [SNAPSHOT_ATM]
    ).fetchall()[0][0]
    rows = con.execute(f"SELECT count(*) FROM {SNAPSHOT_ATM}").fetchall()[0][0] if has else 0
    listed = con.execute("SELECT count(*) FROM loaded_snapshots").fetchall()[0][0]
    if rows != listed:
        t0 = time.perf_counter()
        filled = rebuild_atm(con)
        print(f"filled snapshot_atm: {filled:,} snapshots in {time.perf_counter() - t0:.1f} s")
    con.close()


def report(path: Path, reps: int) -> None:
    desk = connect(path, hold=True)
    (rows,) = desk.sql("SELECT count(*) AS n FROM option_quotes").column("n").to_pylist()
    snap = desk.snapshot("NIFTY")
    strikes = desk.chain("NIFTY").num_rows
    print(f"database: {rows:,} rows; NIFTY nearest expiry {snap.expiry}, {strikes} strikes")
    # IV rank's ATM series as it was read before the loader stored it per snapshot.
    from_quotes = compose(
        tsql.quotes_of_sql(tsql.nearest_expiry_sql("loaded_snapshots")), tsql.ATM_BY_EXPIRY
    )
    every = {
        "symbol": "NIFTY",
        "start": snap.exchange_ts - timedelta(days=30),
        "end": snap.exchange_ts,
    }
    cases = [
        ("chain, NIFTY, all strikes (baseline)", "-", lambda: desk.chain("NIFTY")),
        ("chain with greeks, NIFTY, all strikes", "50", lambda: desk.chain_greeks("NIFTY")),
        ("window ΔOI, NIFTY, last 15 min", "50", lambda: desk.oi_window("NIFTY", since=15)),
        ("window ΔOI, NIFTY, since the open", "50", lambda: desk.oi_window("NIFTY")),
        ("term structure, NIFTY (18 expiries)", "-", lambda: desk.term_structure("NIFTY")),
        ("surface, NIFTY (18 expiries)", "200", lambda: desk.surface("NIFTY")),
        ("IV rank, NIFTY, 5 days", "100", lambda: desk.iv_rank("NIFTY")),
        ("  its ATM series from option_quotes", "-", lambda: desk.sql(from_quotes, every)),
        ("GEX, NIFTY", "-", lambda: desk.gex("NIFTY")),
        ("straddle + VWAP, NIFTY, ATM, the day", "-", lambda: desk.straddle("NIFTY")),
        ("steady PCR, NIFTY, the day", "-", lambda: desk.pcr_steady("NIFTY", "2026-08-11")),
    ]
    # CPU ms (all threads of this process) beside the wall: on a shared machine the wall
    # time also counts waiting for a core, the CPU time does not.
    print(
        f"{'case':<44} {'median ms':>10} {'min ms':>7} {'CPU ms':>7} {'target':>7} {'x chain':>8}"
    )
    base = _print(cases, reps)
    desk.close()  # an open connection makes the next opens cheap (one shared instance)
    # Issue 20's connection reuse: the default (path-backed) desk, opening the file per call
    # (linger 0, as before) and keeping it between calls that follow (the default linger).
    for label, linger in (("opening the file per call", 0.0), ("default desk (lingering)", None)):
        other = connect(path) if linger is None else connect(path, linger_s=linger)
        _print([(f"chain, {label}", "-", lambda d=other: d.chain("NIFTY"))], reps, base)
        other.close()


def _print(cases: list[tuple[str, str, Any]], reps: int, base: float = 0.0) -> float:
    """One line per case; ``x chain``: against ``base`` (default: the first case)."""
    for name, target, fn in cases:
        ms, low, cpu = timed(fn, reps)
        base = base or ms
        print(f"{name:<44} {ms:>10.1f} {low:>7.1f} {cpu:>7.1f} {target:>7} {ms / base:>8.1f}")
    return base


def timed(fn: Any, reps: int) -> tuple[float, float, float]:
    """Median and best wall ms, and median CPU ms, of ``reps`` calls after a warm one."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/tmp/nsechain-bench-desk.duckdb"))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--minutes", type=int, default=375)
    ap.add_argument("--stocks", type=int, default=205)
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()
    if args.rebuild:
        args.db.unlink(missing_ok=True)
    if not args.db.exists() or not _has_history(args.db):
        build(args.db, args.minutes, args.stocks)
    _ensure_atm(args.db)
    report(args.db, args.reps)


if __name__ == "__main__":
    main()
