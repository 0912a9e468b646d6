"""Benchmark: the answer for today costs the same on day 1 and on day N (issue 20).

Where it sits: run by hand or by ``make bench``; nothing imports it. It generates one trading
day with ``bench_analytics``'s generator in *tick* order (one full-market minute after another,
as the live loader appends them), then builds two DuckDB files the way the loader fills them:
one with that day, one with N copies of it on N consecutive days (quotes and
``loaded_snapshots`` shifted by whole days, oldest first, so the latest day is the same in
both), and runs ``upgrade_tables`` on each as the loader does on open. It then prints, per
question about the latest snapshot or one day, the median at 1 day, at N days, and the ratio
N-day / 1-day (goal <= 1.1x, printed, never asserted):

* ``Desk.chain``, held connection, opening the file per call, and the default desk (which
  keeps its connection between calls that follow); snapshot lookup; max pain;
  ATM; ``pcr`` of one day (all expiries);
* ``nsechain status`` as a user runs it (a fresh process): wall time and peak RSS;
* start-up: ``nsechain --help`` beside bare ``python -c pass`` (goal <= 0.3 s);
* bytes per quote row of each file as loaded, and after ``nsechain compact``.

Default size (``--stocks 10 --days 20``: 3.15M rows a day, 63M rows at 20 days, a 2.3 GB
file) takes about 10 minutes on the shared 2-core machine here, most of it building the
20-day file; the issue's own figures were 1 against 20 full-universe days (414M rows,
15.75 GB), which the shared disk and time here do not allow. Each figure is the best of
``--rounds`` medians, the two files measured in turns, each in a fresh process: the machine
is shared, and whatever else runs slows one file or the other.

    python bench/bench_flat.py [--days 20] [--stocks 10] [--minutes 375] [--reps 9]
                               [--rounds 3] [--dir D] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

# Heavy modules (duckdb, numpy, nsechain) are imported inside the functions that need them:
# the report process stays small, so the peak RSS of the children it starts is their own
# (a forked child starts its peak-RSS count from its parent's size).
HERE = Path(__file__).resolve().parent

#: One load batch of day ``d`` days back: the base day's rows in ``[lo, hi)`` minutes after
#: the open, shifted, as the loader inserts a batch (its own transaction, any row order).
_BATCH = """
INSERT INTO option_quotes
SELECT * REPLACE (exchange_ts - INTERVAL ({d}) DAY AS exchange_ts,
                  fetched_at - INTERVAL ({d}) DAY AS fetched_at)
FROM base.option_quotes WHERE exchange_ts >= $lo AND exchange_ts < $hi;
INSERT INTO loaded_snapshots BY NAME
SELECT * REPLACE (exchange_ts - INTERVAL ({d}) DAY AS exchange_ts,
                  file_name || '-{d}' AS file_name)
FROM base.loaded_snapshots WHERE exchange_ts >= $lo AND exchange_ts < $hi;
"""


def build(base: Path, out: Path, days: int, minutes: int, batch_minutes: int) -> int:
    """``days`` copies of the base day, oldest first, into a file made by the store's DDL,
    in load batches of ``batch_minutes`` (the loader's default is 5)."""
    import duckdb

    from bench_analytics import OPEN
    from nsechain.store.tables import ensure_tables, upgrade_tables

    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out))
    ensure_tables(con)
    upgrade_tables(con)
    con.execute(f"ATTACH '{base}' AS base (READ_ONLY)")
    con.execute("SET preserve_insertion_order = false")  # as the loader does for a batch
    for d in range(days - 1, -1, -1):
        for first in range(0, minutes + 1, batch_minutes):
            lo, hi = (OPEN + timedelta(minutes=m) for m in (first, first + batch_minutes))
            con.execute("BEGIN TRANSACTION")
            for statement in _BATCH.format(d=d).split(";")[:2]:
                con.execute(statement, {"lo": lo, "hi": hi})
            con.execute("COMMIT")
    con.execute("DETACH base")
    # Filled by hand, so let the loader's upgrade build its summary tables from the quotes
    # (a version without them just runs the no-op upgrade).
    con.execute("DROP TABLE IF EXISTS latest_snapshots")
    upgrade_tables(con)
    (rows,) = con.execute("SELECT count(*) FROM option_quotes").fetchall()[0]
    con.close()
    return int(rows)


def measure(path: Path, reps: int) -> dict[str, float]:
    """Median ms of each desk question on ``path``, and its bytes per quote row (run in a
    fresh process per file, see ``report``)."""
    sys.path.insert(0, str(HERE))
    from bench_analytics import median_ms
    from nsechain.query import connect

    desk = connect(path, hold=True)
    snap = desk.snapshot("NIFTY")
    day = snap.exchange_ts.date().isoformat()
    cases: dict[str, Callable[[], Any]] = {
        "chain NIFTY, held connection": lambda: desk.chain("NIFTY"),
        "snapshot lookup NIFTY": lambda: desk.snapshot("NIFTY"),
        "max pain NIFTY": lambda: desk.max_pain("NIFTY"),
        "ATM NIFTY": lambda: desk.atm("NIFTY"),
        "pcr NIFTY, one day": lambda: desk.pcr("NIFTY", start=day, end=day),
        "chain STK005 (a stock)": lambda: desk.chain("STK005"),
    }
    out = {name: median_ms(fn, reps) for name, fn in cases.items()}
    desk.close()
    per_call, lingering = connect(path, linger_s=0), connect(path)
    out["chain NIFTY, file opened per call"] = median_ms(lambda: per_call.chain("NIFTY"), reps)
    # The default desk keeps its connection while calls follow (analytics.linger).
    out["chain NIFTY, default desk"] = median_ms(lambda: lingering.chain("NIFTY"), reps)
    lingering.close()
    out |= row_groups(path)
    (rows,) = per_call.sql("SELECT count(*) AS n FROM option_quotes").column("n").to_pylist()
    out["bytes per quote row"] = path.stat().st_size / max(int(rows), 1)
    return out


def _groups_read(con: Any, sql: str, params: dict[str, Any] | None = None) -> float:
    """Row groups a query reads, summed over its table scans, from DuckDB's profiler
    (EXPLAIN ANALYZE): a count that other work on the machine cannot blur."""
    con.execute("SET enable_progress_bar = false")
    plan = con.execute("EXPLAIN ANALYZE " + sql, params or {}).fetchall()[0][1]
    return float(sum(int(n) for n in re.findall(r"Row Groups Scanned: (\d+) /", plan)))


def row_groups(path: Path) -> dict[str, float]:
    """Row groups read by the snapshot lookup, by the chain's quote scan and by ``status``, as
    the installed nsechain runs them (the lookup's first table; status's query)."""
    from nsechain import query
    from nsechain.analytics import queries
    from nsechain.analytics.db import open_read_only

    con = open_read_only(path)
    try:
        tables = query._snapshot_tables(con, latest=True)
    except TypeError:  # a version without latest_snapshots
        tables = query._snapshot_tables(con)
    lookup = queries.snapshot_sql(tables[0], expiry=False, until=False)
    found = con.execute(lookup, {"symbol": "NIFTY"}).fetchall()[0]
    snap = {"symbol": "NIFTY", "expiry": found[0], "exchange_ts": found[1]}
    try:
        from nsechain.store.latest import symbol_rows_sql

        status = symbol_rows_sql(con)
    except ImportError:  # the query of a version without it
        status = "SELECT symbol, count(*), max(exchange_ts)::VARCHAR FROM option_quotes GROUP BY 1"
    out = {
        "row groups read: snapshot lookup": _groups_read(con, lookup, {"symbol": "NIFTY"}),
        "row groups read: chain quote scan": _groups_read(con, queries.ONE_SNAPSHOT, snap),
        "row groups read: status": _groups_read(con, status),
    }
    con.close()
    return out


def _run_child(
    cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process (its exit code one of ``ok``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in ok:
        raise RuntimeError(f"{cmd} failed")
    return took, usage.ru_maxrss / 1024


def _best(
    cmd: list[str], reps: int, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    runs = [_run_child(cmd, env, ok) for _ in range(reps)]
    return min(r[0] for r in runs), statistics.median(r[1] for r in runs)


_THREAD = {"alive": True, "restarts": 0, "last_error": None}
#: The least status.json ``nsechain status`` shows: what a collector that never ticked writes.
_STATUS = {
    "updated_at": "2026-11-11T15:30:00+05:30",  # status.json's shape is checked (collector/status)
    "pid": 0,
    "state": "bench",
    "collection_thread": _THREAD | {"last_tick_at": None, "fetches": {}, "ticks": 0},
    "batch_thread": _THREAD
    | {"last_batch_at": None, "batches": 0, "files_loaded": 0, "rows_loaded": 0},
    "symbols": {},
}
_STATUS["collection_thread"]["rows_written"] = 0
_STATUS["batch_thread"]["pending_files"] = 0


def status_cost(folder: Path, db: Path, reps: int) -> tuple[float, float]:
    """``nsechain status`` against ``db``, with a minimal status.json for it to show."""
    data = folder / f"data-{db.stem}"
    data.mkdir(exist_ok=True)
    (data / "status.json").write_bytes(orjson.dumps(_STATUS))
    exe = str(Path(sys.executable).with_name("nsechain"))
    # Exit 2 is its verdict "not recording" (no collector runs here), after the full report.
    return _best([exe, "status", "--data-dir", str(data), "--db", str(db)], reps, ok=(0, 2))


def bytes_per_row(db: Path) -> float:
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
        " print(c.execute('SELECT count(*) FROM option_quotes').fetchall()[0][0])"
    )
    rows = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, check=True)
    return db.stat().st_size / max(int(rows.stdout), 1)


def compacted_bytes_per_row(db: Path) -> float | None:
    """Bytes per row after ``nsechain compact`` on a copy (None if this version has none)."""
    copy = db.with_name(db.stem + "-compact.duckdb")
    shutil.copyfile(db, copy)
    exe = str(Path(sys.executable).with_name("nsechain"))
    done = subprocess.run([exe, "compact", "--db", str(copy)], capture_output=True, check=False)
    result = bytes_per_row(copy) if done.returncode == 0 else None
    copy.unlink(missing_ok=True)
    return result


def _figures(db: Path, reps: int) -> dict[str, float]:
    me = [sys.executable, __file__, "--measure", str(db), "--reps", str(reps)]
    raw = subprocess.run(me, capture_output=True, check=True)
    figures: dict[str, float] = orjson.loads(raw.stdout.splitlines()[-1])
    return figures


def report(folder: Path, days: int, reps: int, rounds: int, compact: bool = True) -> None:
    """Both files in turns (``rounds`` times, fresh processes): other work on the machine
    slows whichever runs at that moment, so each figure is its best median over the rounds."""
    one, many = folder / "day1.duckdb", folder / f"day{days}.duckdb"
    best: list[dict[str, float]] = [{}, {}]
    for _ in range(rounds):
        for i, db in enumerate((one, many)):
            for name, ms in _figures(db, reps).items():
                best[i][name] = min(ms, best[i].get(name, ms))
    print(f"\n{'question (best median ms)':<40} {'1 day':>9} {f'{days} days':>9} {'ratio':>7}")
    for name in best[0]:
        a, b = best[0][name], best[1][name]
        print(f"{name:<40} {a:>9.1f} {b:>9.1f} {b / max(a, 1e-9):>6.2f}x")
    (s1, m1), (sn, mn) = status_cost(folder, one, 5), status_cost(folder, many, 5)
    print(
        f"{'nsechain status, best wall ms':<40} {s1 * 1e3:>9.0f} {sn * 1e3:>9.0f} {sn / s1:>6.2f}x"
    )
    print(f"{'nsechain status, peak RSS MB':<40} {m1:>9.0f} {mn:>9.0f} {mn / m1:>6.2f}x")
    if not compact:
        startup()
        return
    c1, cn = compacted_bytes_per_row(one), compacted_bytes_per_row(many)
    if c1 is not None and cn is not None:
        print(f"{'bytes per quote row, compacted':<40} {c1:>9.1f} {cn:>9.1f} {cn / c1:>6.2f}x")
    else:
        print("bytes per quote row, compacted: no `nsechain compact` in this version")
    startup()


def startup() -> None:
    exe = str(Path(sys.executable).with_name("nsechain"))
    bare, _ = _best([sys.executable, "-c", "pass"], 7)
    help_s, help_mb = _best([exe, "--help"], 7)
    print(f"\n{'start-up (best of 7)':<40} {'python':>9} {'nsechain':>9} {'ratio':>7}")
    print(f"{'--help, wall ms':<40} {bare * 1e3:>9.0f} {help_s * 1e3:>9.0f} {help_s / bare:>6.1f}x")
    print(f"{'--help, peak RSS MB':<40} {'':>9} {help_mb:>9.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--stocks", type=int, default=10)
    ap.add_argument("--minutes", type=int, default=375)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-minutes", type=int, default=5, help="minutes per load batch")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nsechain-bench-flat"))
    ap.add_argument("--rebuild", action="store_true", help="generate the day again")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", action="store_true", help="measure the files already built")
    ap.add_argument("--skip-compact", action="store_true", help="no compaction figure")
    args = ap.parse_args()
    if args.measure:
        print(orjson.dumps(measure(args.measure, args.reps)).decode())
        return
    if args.report:
        report(args.dir, args.days, args.reps, args.rounds, not args.skip_compact)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    base = args.dir / f"base-{args.stocks}-{args.minutes}.duckdb"
    if args.rebuild or not base.exists():
        sys.path.insert(0, str(HERE))
        from bench_analytics import generate

        base.unlink(missing_ok=True)
        t0 = time.perf_counter()
        rows = generate(base, args.minutes, args.stocks, "tick")
        print(f"generated one day: {rows:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    for days in (1, args.days):
        t0 = time.perf_counter()
        sys.path.insert(0, str(HERE))
        rows = build(base, args.dir / f"day{days}.duckdb", days, args.minutes, args.batch_minutes)
        took = time.perf_counter() - t0
        print(f"built {days} day(s): {rows:,} rows in {took:.0f} s", flush=True)
    # The report in a small fresh process (see the imports at the top).
    flags = ["--dir", str(args.dir), "--days", str(args.days), "--reps", str(args.reps)]
    subprocess.run(
        [sys.executable, __file__, "--report", *flags, "--rounds", str(args.rounds)], check=True
    )


if __name__ == "__main__":
    main()
