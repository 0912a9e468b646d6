"""Benchmark: the Iceberg lake (issue 17) beside the local DuckDB it extends.

Where it sits: run by hand (it needs the lake extra and Debian's PostgreSQL; it starts a
private cluster on a loopback port, as the tests do); nothing imports it. It writes a synthetic
full-market session (5 indices, NIFTY with 18 expiries, 205 stocks, ~55k contracts a minute)
as real tick files, one per minute, and prints our figure beside its baseline, with the ratio.
The day is ``market_day``'s, which changes as NSE's chains do (most legs idle in most
minutes); ``--day moving`` takes ``bench_analytics``' day instead, where every column of
every row moves every minute (a bound no real session reaches, for the byte counts).


* **commit latency per batch** against its rows, for batches of 1, 5 and 25 tick files: the
  lake writer's commit (stage + ``add_files`` + journal) beside the DuckDB load of the same
  files (``Loader.load_pending``, what every collector already pays);
* **commits per minute for 4 concurrent writers** (4 processes, one small tick file per commit,
  one shared table) beside 1 writer alone, with the conflicts they retried;
* **bytes per quote row** in the lake before compaction (tick-sized files) and after
  (``nsechain lake compact --day``, run as a user runs it: its time and peak memory) beside
  the DuckDB file; when the compacted day misses the 12 B/row goal, the same sorted rows
  rewritten with other Parquet settings (zstd level, encodings) to show what would reach it;
* **a chain query and a PCR-over-a-day query** through the desk on the compacted lake day
  (the local DuckDB emptied of it by ``local_retention_days``) beside the desk on the local
  DuckDB that holds it.

    python bench/bench_lake.py [--minutes 75] [--stocks 205] [--reps 9] [--writers 4]
                               [--day nse-like|moving]

``--minutes 375`` is the issue's full day (20.7M rows). Compaction streams it through a
DuckDB sort held to ``lake_compact_memory_mb`` (``lake.compact``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from bench_analytics import OPEN, build_market, make_chunk, median_ms, rows_by_tick  # noqa: E402
from lakeservers import postgres_cluster  # noqa: E402
from market_day import realistic_day  # noqa: E402
from nsechain.config import Settings, load_settings  # noqa: E402
from nsechain.contract import FETCH_LOG_SCHEMA  # noqa: E402
from nsechain.store.files import write_tick  # noqa: E402

BATCHES = (1, 5, 25)
GOAL_B_ROW = 12.0


def _fetch_log(m: Any, at: Any) -> pa.Table:
    """One ok fetch per (symbol, expiry) group of the minute, as the collector logs them."""
    n = len(m.group_size)
    ts = pa.array([at] * n, pa.timestamp("us", tz="Asia/Kolkata"))
    cols = {
        "fetched_at": ts,
        "symbol": pa.array([m.symbols[i] for i in m.sym_id[m.group_start]]),
        "expiry": pa.array(m.expiry_days[m.group_start].astype(np.int32), pa.date32()),
        "endpoint": pa.array(["option-chain-v3"] * n),
        "http_status": pa.array([200] * n, pa.int32()),
        "outcome": pa.array(["ok"] * n),
        "latency_ms": pa.array(np.full(n, 420.0)),
        "bytes": pa.array(np.full(n, 180_000)),
        "rows": pa.array(m.group_size.astype(np.int64)),
        "exchange_ts": ts,
        "attempt": pa.array([1] * n, pa.int32()),
    }
    return pa.table(
        [cols.get(f.name, pa.nulls(n, f.type)) for f in FETCH_LOG_SCHEMA], schema=FETCH_LOG_SCHEMA
    )


def _moving_day(minutes: int, stocks: int) -> Iterator[tuple[datetime, pa.Table]]:
    """``bench_analytics``' day: every contract priced afresh, every column moving, each minute."""
    m = build_market(stocks)
    rng = np.random.default_rng(5)
    steps = rng.normal(0, 0.0006, (len(m.symbols), minutes))
    paths = m.spot0[:, None] * np.exp(np.cumsum(steps, axis=1))
    for minute in range(minutes):
        quotes = make_chunk(m, rows_by_tick(m, minute, minute + 1), minutes, paths)
        yield OPEN + timedelta(minutes=minute, seconds=55), quotes


def write_ticks(
    folder: Path, minutes: int, stocks: int, only: str | None = None, day: str = "nse-like"
) -> int:
    """One tick file per minute in ``folder`` (pending layout); their quote rows."""
    m = build_market(stocks)  # the market both days are made of (same seed)
    ticks = realistic_day(minutes, stocks) if day == "nse-like" else _moving_day(minutes, stocks)
    total = 0
    for at, tick in ticks:
        quotes = tick if only is None else tick.filter(pc.equal(tick["symbol"], only))
        write_tick(folder, at, quotes, _fetch_log(m, at))
        total += quotes.num_rows
    return total


def _settings(root: Path, url: str, **kw: Any) -> Settings:
    return load_settings(
        data_dir=root / "data",
        db_path=root / "local.duckdb",
        lake_catalog_url=url,
        lake_warehouse=str(root / "warehouse"),
        **kw,
    )


def _move(files: list[Path], src_root: Path, dest_root: Path) -> None:
    for f in files:
        dest = dest_root / f.relative_to(src_root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        f.replace(dest)


def commit_latency(
    root: Path, url: str, minutes: int, stocks: int, reps: int, day: str
) -> Settings:
    """Per batch size: the lake commit and the DuckDB load of the same files."""
    from nsechain.collector.batch import make_loader
    from nsechain.lake.writer import LakeWriter
    from nsechain.store.paths import list_tick_files

    staging = root / "ticks"
    t0 = time.perf_counter()
    rows = write_ticks(staging, minutes, stocks, day=day)
    took = time.perf_counter() - t0
    print(f"wrote {minutes} tick files of a {day} day, {rows:,} quote rows in {took:.0f} s")
    files = list_tick_files(staging)
    print(f"\n{'batch':<12} {'rows':>9} {'lake commit ms':>15} {'DuckDB load ms':>15} {'ratio':>6}")
    for k in BATCHES:
        settings = _settings(root, url, lake_batch_files=k)
        loader = make_loader(settings)
        lake_ms, load_ms, batch_rows = [], [], []
        with LakeWriter(settings) as writer:
            for _ in range(reps):
                if len(files) < k:
                    break
                take, files = files[:k], files[k:]
                _move(take, staging, settings.pending_dir)
                t0 = time.perf_counter()
                loaded = loader.load_pending()
                load_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                report = writer.commit_pending(OPEN)
                lake_ms.append((time.perf_counter() - t0) * 1000)
                assert report.batches == 1, report.line()
                batch_rows.append(loaded.quote_rows)
        if not lake_ms:
            print(f"{k:>3} files   (too few tick files left: raise --minutes)")
            continue
        lake, load = statistics.median(lake_ms), statistics.median(load_ms)
        n = int(statistics.median(batch_rows))
        print(f"{k:>3} files   {n:>9,} {lake:>15.0f} {load:>15.0f} {lake / load:>5.2f}x")
    settings = _settings(root, url)
    _move(files, staging, settings.pending_dir)  # the rest of the day, untimed
    make_loader(settings).load_pending()
    with LakeWriter(settings) as writer:
        writer.commit_pending(OPEN)
    return settings


def _writer_run(root: Path, url: str, n: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NSECHAIN_DATA_DIR": str(root / "data"),
        "NSECHAIN_LAKE_CATALOG_URL": url,
        "NSECHAIN_LAKE_WAREHOUSE": str(root.parent / "warehouse"),
        "NSECHAIN_LAKE_BATCH_FILES": "1",
    }
    cmd = [sys.executable, "-m", "nsechain", "lake", "commit"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def commits_per_minute(root: Path, url: str, writers: int, files: int) -> None:
    """``writers`` processes, ``files`` one-file commits each, one table; beside 1 writer."""

    def run(n: int, tag: str) -> tuple[float, int]:
        dirs = [root / f"{tag}{i}" for i in range(n)]
        for d in dirs:
            write_ticks(d / "data" / "options_processed", files, 5, only="NIFTY")
        t0 = time.perf_counter()
        procs = [_writer_run(d, url, n) for d in dirs]
        outs = [p.communicate()[0].decode() for p in procs]
        took = time.perf_counter() - t0
        if any(p.returncode for p in procs):
            raise SystemExit(f"a writer failed: {outs}")
        conflicts = sum(int(o.split("conflicts=")[1].split()[0]) for o in outs)
        return n * files / took * 60, conflicts

    alone, _ = run(1, "alone")
    together, conflicts = run(writers, "w")
    print(f"\ncommits per minute: {writers} writers {together:.0f} (conflicts retried "
          f"{conflicts}) vs 1 writer {alone:.0f}: {together / alone:.2f}x")  # fmt: skip


def _lake_bytes(settings: Settings) -> tuple[int, int, Any]:
    from nsechain.lake.tables import open_catalog, open_table

    catalog = open_catalog(settings)
    table = open_table(catalog, settings.lake_namespace, "option_quotes")
    files = table.inspect.files()
    size = sum(files.column("file_size_in_bytes").to_pylist())
    return size, sum(files.column("record_count").to_pylist()), table


def _compact_cli(settings: Settings) -> tuple[float, float]:
    """``nsechain lake compact --day`` as a user runs it: (seconds, the process's peak MB)."""
    env = {
        **os.environ,
        "NSECHAIN_DATA_DIR": str(settings.data_dir),
        "NSECHAIN_LAKE_CATALOG_URL": str(settings.lake_catalog_url),
        "NSECHAIN_LAKE_WAREHOUSE": str(settings.lake_warehouse),
    }
    cmd = [sys.executable, "-m", "nsechain", "lake", "compact", "--day", OPEN.date().isoformat()]
    t0 = time.perf_counter()
    peak_kb = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:  # no pipes
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        # The child's own high-water mark (VmHWM), polled: its ru_maxrss would start at the
        # bench's size when it forked (Linux keeps the forked copy's peak across exec).
        while proc.poll() is None:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            time.sleep(0.05)
        took = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"lake compact failed: {err.read()[-2000:]}")
        print("  " + out.read().strip().replace("\n", "\n  "))
    return took, peak_kb / 1024


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


def bytes_per_row(settings: Settings) -> None:
    local = settings.db_path.stat().st_size
    size, rows, table = _lake_bytes(settings)
    print(f"\nbytes per quote row ({rows:,} rows)   goal <= {GOAL_B_ROW:.0f}")
    print(f"  local DuckDB as loaded        {local / rows:6.1f}")
    print(f"  lake, tick-sized files        {size / rows:6.1f}  ({size / local:.2f}x DuckDB)")
    took, peak_mb = _compact_cli(settings)
    size, rows, table = _lake_bytes(settings)
    print(f"  lake, compacted               {size / rows:6.1f}  ({size / local:.2f}x DuckDB)"
          f"  `lake compact` took {took:.0f} s, peak memory {peak_mb:.0f} MB")  # fmt: skip
    files = table.inspect.files().column("file_path").to_pylist()
    compacted = [Path(f.removeprefix("file://")) for f in files]
    print(f"    {len(compacted)} file(s); by column: {by_column(compacted[0])}")
    if size / rows > GOAL_B_ROW:
        variants(compacted)


def by_column(path: Path) -> str:
    """The biggest columns of a Parquet file, bytes per row each."""
    meta = pq.ParquetFile(path).metadata
    rows = meta.num_rows
    sizes: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            col = group.column(c)
            sizes[col.path_in_schema] = sizes.get(col.path_in_schema, 0) + col.total_compressed_size
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:8]
    return " ".join(f"{name}={n / rows:.1f}" for name, n in top)


def variants(paths: list[Path]) -> None:
    """The compacted (sorted) day rewritten with other Parquet settings: bytes per row."""
    data = pa.concat_tables(pq.read_table(p) for p in paths)
    rows = data.num_rows
    by_type = ["symbol", "expiry", "option_type", "strike", "exchange_ts"]
    pct = data.schema.get_field_index("pct_change_in_oi")
    rounded = data.set_column(pct, "pct_change_in_oi", pc.round(data.column(pct), 2))
    zstd9 = {"compression": "zstd", "compression_level": 9}
    floats = [f.name for f in data.schema if pa.types.is_floating(f.type)]
    strings = [f.name for f in data.schema if not pa.types.is_floating(f.type)]
    tried: list[tuple[str, pa.Table, dict[str, Any]]] = [
        ("zstd 3 (pyarrow default level)", data, {"compression": "zstd"}),
        ("zstd 9", data, zstd9),
        ("zstd 19", data, {"compression": "zstd", "compression_level": 19}),
        ("zstd 9, byte_stream_split floats", data, {**zstd9, "use_dictionary": strings,
                                                    "use_byte_stream_split": floats}),
        ("zstd 9, sorted (sym, exp, type, strike, ts)",
         data.sort_by([(k, "ascending") for k in by_type]), zstd9),
        ("zstd 9, pct_change_in_oi rounded to 0.01", rounded, zstd9),
        ("zstd 9, without pct_change_in_oi", data.drop_columns(["pct_change_in_oi"]), zstd9),
    ]  # fmt: skip
    out = paths[0].with_name("variant.parquet")
    for name, table, opts in tried:
        pq.write_table(table, out, **opts)
        print(f"    rewritten: {name:<44} {out.stat().st_size / rows:6.1f}")
    out.unlink()


def queries(settings: Settings, full_db: Path, reps: int) -> None:
    """Desk on the compacted lake day (local file emptied of it) vs the local DuckDB."""
    from nsechain.lake.retention import retain_once
    from nsechain.query import connect

    kept = retain_once(settings.model_copy(update={"local_retention_days": 1}),
                       OPEN.date() + timedelta(days=2))  # fmt: skip
    print(f"\n{kept.line()}")
    at = OPEN + timedelta(minutes=30)
    cases: list[tuple[str, Callable[[Any], Any]]] = [
        ("chain, NIFTY, one snapshot", lambda d: d.chain("NIFTY", at=at)),
        ("pcr over the day, NIFTY", lambda d: d.pcr("NIFTY", start=OPEN.date(), end=OPEN.date())),
    ]
    print(f"{'desk query':<30} {'lake ms':>9} {'DuckDB ms':>10} {'ratio':>6}")
    with (
        connect(full_db, hold=True) as local,
        connect(settings.db_path, hold=True, lake=settings) as lake,
    ):
        for name, ask in cases:
            assert ask(lake).equals(ask(local)), name
            via_lake = median_ms(lambda a=ask: a(lake), reps)
            via_local = median_ms(lambda a=ask: a(local), reps)
            print(f"{name:<30} {via_lake:>9.0f} {via_local:>10.1f} {via_lake / via_local:>5.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=int, default=75)
    ap.add_argument("--stocks", type=int, default=205)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--writer-files", type=int, default=30)
    ap.add_argument(
        "--day",
        choices=("nse-like", "moving"),
        default="nse-like",
        help="market_day's day (default), or bench_analytics' every-row-moves day",
    )
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nsechain-bench-lake-"))
    try:
        with postgres_cluster() as pg:
            settings = commit_latency(
                root / "day",
                pg.create_database("bench_day"),
                args.minutes,
                args.stocks,
                3,
                args.day,
            )
            full_db = root / "full.duckdb"
            shutil.copy(settings.db_path, full_db)
            bytes_per_row(settings)
            queries(settings, full_db, args.reps)
            url = pg.create_database("bench_writers")
            commits_per_minute(root / "writers" / "x", url, args.writers, args.writer_files)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
