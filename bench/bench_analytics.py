"""Benchmark: the analysis desk on a synthetic trading day of ~20M option_quotes rows.

Where it sits: run by hand or by ``make bench``; nothing imports it. It generates one full
trading day (375 one-minute snapshots of a ~55k-contract market: 5 indices, NIFTY with 18
expiries, 205 stocks with 3) with numpy and writes it to a DuckDB file with the loader's DDL
(``loaded_snapshots`` filled as the loader does: one row per snapshot with its totals from
``store.files.snapshots_of``, appended in time order), in one of two row orders:

* ``symbol`` (default): by (symbol, expiry, exchange_ts), as after a daily compaction; the
  zone maps of symbol/expiry/exchange_ts then prune almost every row group;
* ``tick``: one full-market tick after another, as the live loader appends them; only the
  exchange_ts zone maps help.

It then prints medians from a fresh process (targets in brackets, printed, never asserted):

* PCR per minute, one symbol, all expiries and one expiry   [<= 50 ms]
  (and, for comparison, the same summed from option_quotes, as without stored totals)
* one wide chain, latest and mid-day snapshot                [<= 50 ms]
* max pain of one snapshot                                   [<= 20 ms]
* greeks + IV of a full-market snapshot (~55k contracts)     [<= 150 ms]

    python bench/bench_analytics.py [--layout symbol|tick] [--minutes 375] [--stocks 205]
                                    [--reps 15] [--db PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from nsechain.analytics import queries
from nsechain.analytics.black76 import black76_price
from nsechain.analytics.greeks import chain_greeks
from nsechain.analytics.sql import PCR_ALL_EXPIRIES_SQL, compose
from nsechain.analytics.views import create_views
from nsechain.contract import QUOTES_SCHEMA
from nsechain.query import connect
from nsechain.store.files import snapshots_of
from nsechain.store.tables import ensure_tables, upgrade_tables
from nsechain.timeutil import IST

DAY = date(2026, 8, 11)
OPEN = datetime(2026, 8, 11, 9, 15, tzinfo=IST)
US = 1_000_000
# (symbol, spot, strike step, expiries, strikes per expiry)
INDICES = (
    ("NIFTY", 24450.0, 50.0, 18, 100),
    ("BANKNIFTY", 55000.0, 100.0, 6, 100),
    ("FINNIFTY", 26000.0, 50.0, 3, 60),
    ("MIDCPNIFTY", 12800.0, 25.0, 3, 80),
    ("NIFTYNXT50", 68000.0, 100.0, 3, 60),
)


@dataclass(frozen=True)
class Market:
    """One row per contract (symbol, expiry, strike, CE/PE), sorted; plus per-group info."""

    sym_id: np.ndarray  # per contract
    expiry_days: np.ndarray
    strike: np.ndarray
    is_call: np.ndarray
    group_start: np.ndarray  # per (symbol, expiry) group: first contract, contract count
    group_size: np.ndarray
    symbols: list[str]
    spot0: np.ndarray  # per symbol


def _universe(stocks: int, rng: np.random.Generator) -> list[tuple[str, float, float, int, int]]:
    spots = np.round(rng.lognormal(7.0, 0.8, stocks), 1)
    steps = np.maximum(np.round(spots * 0.01 / 5) * 5, 2.5)
    names = [f"STK{i:03d}" for i in range(stocks)]
    return list(INDICES) + [(n, s, st, 3, 40) for n, s, st in zip(names, spots, steps, strict=True)]


def build_market(stocks: int, seed: int = 11) -> Market:
    rng = np.random.default_rng(seed)
    universe = _universe(stocks, rng)
    first = np.datetime64(DAY, "D").astype(np.int64)
    expiries = first + np.array([0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 91, 182, 273, 364])
    expiries = np.concatenate([expiries, first + 364 + 91 * np.arange(1, 5)])
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("sym", "exp", "k", "call", "size")}
    for i, (_, spot, step, n_exp, n_k) in enumerate(universe):
        atm = round(spot / step) * step
        ks = atm + step * (np.arange(n_k) - n_k // 2)
        for e in expiries[:n_exp]:
            parts["sym"].append(np.full(2 * n_k, i))
            parts["exp"].append(np.full(2 * n_k, e))
            parts["k"].append(np.repeat(ks, 2))
            parts["call"].append(np.tile([True, False], n_k))
            parts["size"].append(np.array([2 * n_k]))
    size = np.concatenate(parts["size"])
    return Market(
        sym_id=np.concatenate(parts["sym"]),
        expiry_days=np.concatenate(parts["exp"]),
        strike=np.concatenate(parts["k"]),
        is_call=np.concatenate(parts["call"]),
        group_start=np.concatenate([[0], np.cumsum(size)[:-1]]),
        group_size=size,
        symbols=[u[0] for u in universe],
        spot0=np.array([u[1] for u in universe]),
    )


def rows_by_symbol(m: Market, groups: np.ndarray, minutes: int) -> tuple[np.ndarray, ...]:
    """(group, minute, contract) of all day's rows of ``groups``: group, minute, contract order."""
    block = m.group_size[groups] * minutes
    g = np.repeat(groups, block)
    offset = np.arange(block.sum()) - np.repeat(np.cumsum(block) - block, block)
    n = m.group_size[g]
    return g, offset // n, m.group_start[g] + offset % n


def rows_by_tick(m: Market, first: int, last: int) -> tuple[np.ndarray, ...]:
    """(group, minute, contract) of every contract in minutes [first, last): tick order, as the
    loader appends one tick file after another."""
    n = len(m.strike)
    c = np.tile(np.arange(n), last - first)
    group_of = np.repeat(np.arange(len(m.group_size)), m.group_size)
    return group_of[c], np.repeat(np.arange(first, last), n), c


def make_chunk(
    m: Market, rows: tuple[np.ndarray, ...], minutes: int, paths: np.ndarray
) -> pa.Table:
    """Option quotes of the given rows, priced with Black-76 on a smile."""
    g, minute, c = rows
    sym = m.sym_id[c]
    spot = paths[sym, minute]
    k, call = m.strike[c], m.is_call[c]
    # Each (symbol, expiry) fetch lands at its own second within the minute, as NSE's do.
    ts_us = (OPEN.timestamp() + minute * 60 + g % 50).astype(np.int64) * US
    close_s = m.expiry_days[c] * 86_400 + 36_000
    t = np.maximum(close_s - ts_us / US, 60.0) / (365 * 86_400)
    x = np.log(k / spot)
    sigma = 0.14 + 0.8 * x * x + np.where(x < 0, -0.25 * x, 0.0)
    price = np.maximum(np.round(black76_price(spot, k, t, sigma, 0.065, call), 2), 0.05)
    tick = np.maximum(np.round(price * 0.002, 2), 0.05)
    oi0 = (1e5 * np.exp(-30 * x * x)).astype(np.int64) + 10
    oi = (oi0 * (1 + 0.3 * minute / minutes * np.sin(c))).round()
    vol = (oi0 * 8 * minute / minutes).astype(np.int64)
    n = len(c)
    qty = np.full(n, 650, dtype=np.int64)
    cols = {
        "exchange_ts": pa.array(ts_us, pa.timestamp("us", tz="Asia/Kolkata")),
        "fetched_at": pa.array(ts_us + 900_000, pa.timestamp("us", tz="Asia/Kolkata")),
        "symbol": pa.DictionaryArray.from_arrays(sym.astype(np.int32), m.symbols).cast(pa.string()),
        "expiry": pa.array(m.expiry_days[c].astype(np.int32), pa.date32()),
        "strike": k,
        "option_type": pa.DictionaryArray.from_arrays(
            np.where(call, 0, 1).astype(np.int32), ["CE", "PE"]
        ).cast(pa.string()),
        "open_interest": oi,
        "change_in_oi": oi - oi0,
        "pct_change_in_oi": (oi - oi0) / oi0 * 100,
        "volume": vol,
        "iv": np.round(sigma * 100, 2),
        "last_price": price,
        "change": np.round(price * 0.01, 2),
        "pct_change": np.full(n, 1.0),
        "total_buy_qty": vol * 3,
        "total_sell_qty": vol * 2,
        "bid_price": np.maximum(price - tick, 0.05),
        "bid_qty": qty,
        "ask_price": price + tick,
        "ask_qty": qty,
        "underlying_value": np.round(spot, 2),
        "identifier": pa.nulls(n, pa.string()),
    }
    return pa.table(cols, schema=QUOTES_SCHEMA)


def chunks(m: Market, minutes: int, layout: str) -> Iterator[tuple[np.ndarray, ...]]:
    """Rows in ~3M-row chunks, in the order of ``layout``."""
    if layout == "tick":
        step = max(3_000_000 // len(m.strike), 1)
        for first in range(0, minutes, step):
            yield rows_by_tick(m, first, min(first + step, minutes))
        return
    chunk_of = np.cumsum(m.group_size * minutes) // 3_000_000  # whole groups per chunk
    for chunk in np.unique(chunk_of):
        yield rows_by_symbol(m, np.flatnonzero(chunk_of == chunk), minutes)


def generate(path: Path, minutes: int, stocks: int, layout: str) -> int:
    m = build_market(stocks)
    rng = np.random.default_rng(5)
    steps = rng.normal(0, 0.0006, (len(m.symbols), minutes))
    paths = m.spot0[:, None] * np.exp(np.cumsum(steps, axis=1))
    con = duckdb.connect(str(path))
    ensure_tables(con)  # the loader's tables, from the same DDL and upgrade
    upgrade_tables(con)
    snapshots = []
    for rows in chunks(m, minutes, layout):  # a snapshot never spans two chunks
        chunk = make_chunk(m, rows, minutes, paths)
        snapshots.append(snapshots_of(chunk))  # what the tick writer puts in each footer
        con.register("chunk", chunk)
        con.execute("INSERT INTO option_quotes SELECT * FROM chunk")
        con.unregister("chunk")
    # The loader lists every snapshot it loads, with its totals, in load (= time) order; the
    # desk finds snapshots there and PCR reads the totals.
    listed = pa.concat_tables(snapshots).sort_by("exchange_ts")
    con.register("listed", listed)
    con.execute("INSERT INTO loaded_snapshots BY NAME SELECT *, 'bench' AS file_name FROM listed")
    con.unregister("listed")
    create_views(con)
    (n,) = con.execute("SELECT count(*) FROM option_quotes").fetchall()[0]
    con.close()
    return int(n)


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm: first call pays for caches
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def report(path: Path, reps: int) -> None:
    desk = connect(path, hold=True)  # one connection: nothing else writes during the bench
    snap = desk.snapshot("NIFTY")
    mid_day = OPEN + timedelta(minutes=187)
    full = desk.sql("SELECT * FROM latest_chain")
    from_quotes = compose(queries.SYMBOL, PCR_ALL_EXPIRIES_SQL)  # Desk.pcr without totals
    one_expiry = {"symbol": "NIFTY", "expiry": snap.expiry}
    cases: list[tuple[str, str, Callable[[], Any]]] = [
        ("pcr per minute, NIFTY, all 18 expiries", "50", lambda: desk.pcr("NIFTY")),
        (
            "  the same, summed from option_quotes",
            "-",
            lambda: desk.sql(from_quotes, {"symbol": "NIFTY"}),
        ),
        ("pcr per snapshot, NIFTY, one expiry", "50", lambda: desk.pcr("NIFTY", snap.expiry)),
        (
            "  the same, pcr view",
            "-",
            lambda: desk.sql(
                "SELECT * FROM pcr WHERE symbol = $symbol AND expiry = $expiry", one_expiry
            ),
        ),
        ("chain, NIFTY, latest (expiry resolved)", "50", lambda: desk.chain("NIFTY")),
        ("chain, NIFTY, mid-day snapshot", "50", lambda: desk.chain("NIFTY", snap.expiry, mid_day)),
        ("chain, STK100 (a stock), latest", "50", lambda: desk.chain("STK100")),
        ("max pain, NIFTY, one snapshot", "20", lambda: desk.max_pain("NIFTY", snap.expiry)),
        (
            "max pain, NIFTY, every snapshot of the day",
            "-",
            lambda: desk.max_pain_series("NIFTY", snap.expiry),
        ),
        (
            f"greeks + IV, full market ({full.num_rows} contracts)",
            "150",
            lambda: chain_greeks(full),
        ),
        ("atm, NIFTY", "-", lambda: desk.atm("NIFTY")),
        ("oi_buildup 15 min, NIFTY", "-", lambda: desk.oi_buildup("NIFTY")),
    ]
    print(f"{'case':<52} {'median ms':>10} {'target':>7}")
    for name, target, fn in cases:
        print(f"{name:<52} {median_ms(fn, reps):>10.1f} {target:>7}")
    desk.close()
    per_call = connect(path)  # hold=False: opens the file read-only for every call
    ms = median_ms(lambda: per_call.chain("NIFTY"), reps)
    print(f"{'chain, NIFTY, latest, opening the file per call':<52} {ms:>10.1f} {'-':>7}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=int, default=375)
    ap.add_argument("--stocks", type=int, default=205)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--db", type=Path, help="reuse/keep this file (default: a temp dir)")
    ap.add_argument(
        "--layout",
        choices=("symbol", "tick"),
        default="symbol",
        help="row order: by (symbol, expiry, time), or tick after tick as loaded live",
    )
    ap.add_argument("--report-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.report_only:
        report(args.db, args.reps)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        if not path.exists():
            t0 = time.perf_counter()
            rows = generate(path, args.minutes, args.stocks, args.layout)
            took = time.perf_counter() - t0
            size = path.stat().st_size / 1e6
            print(
                f"generated {rows:,} rows ({args.layout} order) in {took:.1f} s, {size:.0f} MB",
                flush=True,
            )
        else:
            print(f"reusing {path}", flush=True)
        (threads,) = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0]
        print(f"duckdb {duckdb.__version__}, threads {threads}", flush=True)
        # Measure in a fresh process, like a user opening the file: the generator's gigabytes
        # of freed numpy memory otherwise slow every query 2-3x.
        cmd = [sys.executable, __file__, "--report-only", "--db", str(path)]
        subprocess.run([*cmd, "--reps", str(args.reps)], check=True)


if __name__ == "__main__":
    main()
