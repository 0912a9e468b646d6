"""Benchmark: the exactly-once Loader against a raw ``INSERT … SELECT * FROM read_parquet``.

Where it sits: ``make bench`` runs it; nothing imports it. It writes N synthetic tick files with
``store.files.write_tick`` (realistic columns, ~55k rows each, like a full-market tick), then
times, each on a fresh database and a fresh copy of the files, median of R runs:

* raw        connect, CREATE TABLE, one ``INSERT INTO t SELECT * FROM read_parquet([...])``, close
* raw, unordered  the same with ``preserve_insertion_order = false``, as the Loader sets it
* loader     ``Loader.load_pending()``: manifest, snapshot index, fetch log, moves, fsyncs
* loader+dup the same, but every file repeats 10% of the previous file's snapshots (the slow path)

The target (printed, not asserted) is loader ≥ 0.8× raw.

    python bench/bench_load.py [--files 60] [--rows 55000] [--reps 3]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA, duckdb_ddl
from nsechain.store.files import write_tick
from nsechain.store.loader import Loader
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import IST

T0 = datetime(2026, 11, 11, 9, 16, tzinfo=IST)
EXPIRIES = (date(2026, 11, 17), date(2026, 11, 24))
US = 1_000_000


def _layout(rows: int) -> tuple[int, int]:
    """(symbols, strikes) so that symbols × 2 expiries × strikes × CE/PE ≈ rows."""
    strikes = 76
    return max(1, round(rows / (len(EXPIRIES) * strikes * 2))), strikes


class TickMaker:
    """Builds ticks from one fixed contract list; prices and timestamps vary per tick."""

    def __init__(self, rows: int, seed: int = 7) -> None:
        n_sym, n_strike = _layout(rows)
        self.rng = np.random.default_rng(seed)
        sym = np.repeat([f"SYM{i:03d}" for i in range(n_sym)], len(EXPIRIES) * n_strike * 2)
        per_sym = np.tile(np.repeat(np.arange(len(EXPIRIES)), n_strike * 2), n_sym)
        strike = np.tile(np.repeat(1000.0 + 10 * np.arange(n_strike), 2), n_sym * len(EXPIRIES))
        opt = np.tile(np.array(["CE", "PE"]), len(sym) // 2)
        self.n = len(sym)
        self.snap_id = np.repeat(np.arange(n_sym * len(EXPIRIES)), n_strike * 2)
        self.symbol = pa.array(sym)
        self.expiry = pa.array(np.array(EXPIRIES, dtype="datetime64[D]")[per_sym], pa.date32())
        self.strike = pa.array(strike)
        self.option_type = pa.array(opt)
        self.identifier = pa.array(
            [
                f"OPTSTK{s}{e}{o}{k:.0f}"
                for s, e, o, k in zip(sym, per_sym, opt, strike, strict=True)
            ]
        )

    def _ts(self, micros: np.ndarray) -> pa.Array:
        return pa.array(micros, pa.timestamp("us", tz=IST))

    def quotes(self, exchange_us: np.ndarray) -> pa.Table:
        """One tick; ``exchange_us`` holds the NSE timestamp (µs) of each snapshot."""
        r, n = self.rng, self.n
        ts = exchange_us[self.snap_id]
        cols = {
            "exchange_ts": self._ts(ts),
            "fetched_at": self._ts(ts + 2 * US),
            "symbol": self.symbol,
            "expiry": self.expiry,
            "strike": self.strike,
            "option_type": self.option_type,
            "open_interest": pa.array(r.integers(0, 200_000, n).astype(float)),
            "change_in_oi": pa.array(r.integers(-5_000, 5_000, n).astype(float)),
            "pct_change_in_oi": pa.array(r.normal(0, 5, n).round(2)),
            "volume": pa.array(r.integers(0, 1_000_000, n)),
            "iv": pa.array(r.uniform(8, 60, n).round(2)),
            "last_price": pa.array(r.uniform(0.05, 900, n).round(2)),
            "change": pa.array(r.normal(0, 10, n).round(2)),
            "pct_change": pa.array(r.normal(0, 3, n).round(2)),
            "total_buy_qty": pa.array(r.integers(0, 500_000, n)),
            "total_sell_qty": pa.array(r.integers(0, 500_000, n)),
            "bid_price": pa.array(r.uniform(0.05, 900, n).round(2)),
            "bid_qty": pa.array(r.integers(0, 10_000, n)),
            "ask_price": pa.array(r.uniform(0.05, 900, n).round(2)),
            "ask_qty": pa.array(r.integers(0, 10_000, n)),
            "underlying_value": pa.array(np.full(n, 24445.1)),
            "identifier": self.identifier,
        }
        return pa.table(cols, schema=QUOTES_SCHEMA)

    def fetch_log(self, exchange_us: np.ndarray) -> pa.Table:
        k = len(exchange_us)
        snap_first = np.searchsorted(self.snap_id, np.arange(k))
        return pa.table(
            {
                "fetched_at": self._ts(exchange_us + 2 * US),
                "symbol": self.symbol.take(pa.array(snap_first)),
                "expiry": self.expiry.take(pa.array(snap_first)),
                "endpoint": pa.array(["option-chain-v3"] * k),
                "http_status": pa.array(np.full(k, 200, dtype=np.int32)),
                "outcome": pa.array(["ok"] * k),
                "latency_ms": pa.array(self.rng.uniform(80, 400, k)),
                "bytes": pa.array(self.rng.integers(50_000, 400_000, k)),
                "rows": pa.array(np.full(k, self.n // k, dtype=np.int64)),
                "exchange_ts": self._ts(exchange_us),
                "attempt": pa.array(np.ones(k, dtype=np.int32)),
                "error": pa.nulls(k, pa.string()),
            },
            schema=FETCH_LOG_SCHEMA,
        )


def generate(root: Path, files: int, rows: int, dup_share: float) -> tuple[Path, int]:
    """Write ``files`` ticks under ``root``; each repeats ``dup_share`` of the last one's
    snapshots (same NSE timestamp). Returns (root, total rows)."""
    maker = TickMaker(rows)
    n_snap = int(maker.snap_id[-1]) + 1
    repeat = np.arange(n_snap) < round(n_snap * dup_share)
    base = int(T0.timestamp()) * US
    prev = np.full(n_snap, base - 60 * US)
    total = 0
    for k in range(files):
        at = T0 + timedelta(minutes=k)
        now_us = np.full(n_snap, base + k * 60 * US)
        exchange = np.where(repeat & (k > 0), prev, now_us)
        q = maker.quotes(exchange)
        write_tick(root, at, q, maker.fetch_log(exchange))
        total += q.num_rows
        prev = exchange
    return root, total


def fresh_copy(src: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest)
    return dest


def time_raw(src: Path, work: Path, *, ordered: bool = True) -> float:
    files = [str(p) for p in list_tick_files(src)]
    db = work / "raw.duckdb"
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(duckdb_ddl("t", QUOTES_SCHEMA))
    con.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
    con.execute(f"INSERT INTO t SELECT * FROM read_parquet({files!r})")
    con.close()
    return time.perf_counter() - started


def time_loader(src: Path, work: Path) -> float:
    pending = fresh_copy(src, work / "pending")
    shutil.rmtree(work / "processed", ignore_errors=True)
    db = work / "loader.duckdb"
    db.unlink(missing_ok=True)
    loader = Loader(db, pending, work / "processed", work / "quarantine")
    started = time.perf_counter()
    result = loader.load_pending()
    elapsed = time.perf_counter() - started
    assert not result.quarantined and not list_tick_files(pending), result
    return elapsed


def interleaved(reps: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every variant once per round, rotating the order, so drift (page cache, other load
    on the machine) is shared rather than charged to whichever variant runs first."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for rep in range(reps):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(runs[name]())
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--rows", type=int, default=55_000, help="quote rows per tick file")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="nsechain-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        clean, rows = generate(root / "clean", args.files, args.rows, 0.0)
        dup, _ = generate(root / "dup", args.files, args.rows, 0.10)
        size = sum(p.stat().st_size for p in list_tick_files(clean))
        took = time.perf_counter() - started
        print(
            f"generated {args.files} files × {rows // args.files:,} rows = {rows:,} rows, "
            f"{size / 1e6:.1f} MB ({size / rows:.1f} B/row), twice, in {took:.1f} s"
        )
        work = root / "work"
        work.mkdir()
        runs = {
            "raw read_parquet insert": lambda: time_raw(clean, work),
            "raw, unordered": lambda: time_raw(clean, work, ordered=False),
            "Loader.load_pending": lambda: time_loader(clean, work),
            "Loader, 10% dup snapshots": lambda: time_loader(dup, work),
        }
        times = interleaved(args.reps, runs)
    results = {name: statistics.median(ts) for name, ts in times.items()}
    raw = results["raw read_parquet insert"]
    print(
        f"\n{'variant':<28}{'files':>6}{'rows in':>12}{'median s':>10}{'best s':>8}"
        f"{'rows/s':>12}{'× raw':>7}"
    )
    for name, seconds in results.items():
        print(
            f"{name:<28}{args.files:>6}{rows:>12,}{seconds:>10.3f}{min(times[name]):>8.3f}"
            f"{rows / seconds:>12,.0f}{raw / seconds:>7.2f}"
        )
    print("(rows/s counts rows read; the dup variant inserts 10% fewer of them)")
    ratio = raw / results["Loader.load_pending"]
    print(f"\ntarget Loader ≥ 0.80× raw: {'met' if ratio >= 0.8 else 'NOT met'} ({ratio:.2f}×)")


if __name__ == "__main__":
    main()
