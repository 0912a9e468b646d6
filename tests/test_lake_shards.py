"""Four sharded collectors against one simulator commit concurrently to one lake table, with
random SIGKILLs of collectors and committers and restarts: the lake holds exactly the rows of
the tick files (0 lost, 0 duplicated), and each (symbol, expiry) pair came from one shard only.

Real components: ``nsechain collect --shard i/4`` processes (each with its own data dir and
DuckDB file) on the simulator's clock, ``nsechain lake commit --every`` processes, the private
PostgreSQL cluster as the catalog (tests/lakeservers.py), a warehouse folder. The simulator
answers with latency and faults on (5xx, empty bodies, resets).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nsechain.chaos.checks import check_store
from nsechain.chaos.spawn import spawn_collector
from nsechain.config import Settings
from nsechain.market import INDEX_SYMBOLS
from nsechain.market.shard import pair_owner
from nsechain.sim.latency import LatencyModel
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.paths import list_tick_files
from test_lake import catalog_url, counts, lake_settings, postgres  # noqa: F401 (fixtures)

SHARDS = 4
SYMBOLS = ",".join([*INDEX_SYMBOLS, "RELIANCE", "TCS", "INFY", "M&M", "SBIN", "ITC", "HDFCBANK"])
KILL_FOR_S = 36.0  # wall seconds of the kill loop
KEY = ["symbol", "expiry", "strike", "option_type", "exchange_ts"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimConfig(
        seed=17,
        speed=10,  # ten simulated seconds per wall second: every tick sees new NSE timestamps
        start="2026-11-25T09:20:00",
        latency=LatencyModel(median_s=0.05, p99_s=0.4),
        faults={
            "error_5xx": {"probability": 0.03},
            "empty": {"probability": 0.02},
            "reset": {"probability": 0.02},
        },
    )
    with Simulator(config) as s:
        yield s


class ShardRun:
    """One shard: its data dir, and its collector and committer processes (restartable)."""

    def __init__(self, index: int, root: Path, sim: Simulator, lake_env: dict[str, str]) -> None:
        self.index, self.sim, self.lake_env = index, sim, lake_env
        self.dir = root / f"shard{index}"
        self.data, self.db, self.logs = self.dir / "data", self.dir / "chain.duckdb", self.dir
        self.dir.mkdir(parents=True)
        self.runs = 0
        self.collector: subprocess.Popen[bytes] | None = None
        self.committer: subprocess.Popen[bytes] | None = None

    def start_collector(self, *extra: str) -> subprocess.Popen[bytes]:
        self.runs += 1
        self.collector = spawn_collector(
            base_url=self.sim.base_url,
            data_dir=self.data,
            db_path=self.db,
            symbols=SYMBOLS,
            interval_s=0.5,
            batch_interval_s=1.0,
            rate=100,
            workdir=self.dir,
            log_path=self.logs / f"collect_{self.runs:02d}.log",
            env={
                "NSECHAIN_BURST": "10",
                "NSECHAIN_BACKOFF_BASE_S": "0.01",
                "NSECHAIN_BACKOFF_MAX_S": "0.2",
                "NSECHAIN_EXPIRIES_PER_SYMBOL": "4",
            },
            extra=("--shard", f"{self.index}/{SHARDS}", *extra),
        )
        return self.collector

    def start_committer(self, *extra: str) -> subprocess.Popen[bytes]:
        self.runs += 1
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NSECHAIN_")},
            **self.lake_env,
        }
        with (self.logs / f"lake_{self.runs:02d}.log").open("ab") as log:
            self.committer = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nsechain",
                    "lake",
                    "commit",
                    "--data-dir",
                    str(self.data),
                    *list(extra),
                ],
                env=env,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.committer

    def log_tail(self) -> str:
        logs = sorted(self.logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs[-2:])


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    if proc is not None:
        proc.wait(30)


def _kill_loop(shards: list[ShardRun], rng: random.Random) -> dict[str, int]:
    """SIGKILL a random collector or committer every 2-5 s and start it again at once (a
    collector needs ~5 s to start on a busy machine: kills any faster would only hit starts)."""
    kills = {"collector": 0, "committer": 0}
    deadline = time.monotonic() + KILL_FOR_S
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(2.0, 5.0))
        shard = rng.choice(shards)
        if rng.random() < 0.6:
            _kill(shard.collector)
            shard.start_collector()
            kills["collector"] += 1
        else:
            _kill(shard.committer)
            shard.start_committer("--every", "0.5")
            kills["committer"] += 1
    return kills


def _finish(shards: list[ShardRun]) -> None:
    """Stop everything; one last start of each (recover, a tick, a load), then one commit each,
    the four at once."""
    for shard in shards:
        _kill(shard.collector)
        _kill(shard.committer)
    for start in (lambda s: s.start_collector("--once"), lambda s: s.start_committer()):
        procs = [start(s) for s in shards]  # the four at once; commits only after every load
        for shard, proc in zip(shards, procs, strict=True):
            assert proc.wait(240) == 0, shard.log_tail()


def test_four_sharded_collectors_commit_to_one_table_exactly_with_kills(
    tmp_path: Path,
    sim: Simulator,
    catalog_url: str,  # noqa: F811
) -> None:
    from nsechain.lake.tables import open_catalog, open_table

    settings = lake_settings(tmp_path, catalog_url)
    lake_env = {
        "NSECHAIN_LAKE_CATALOG_URL": catalog_url,
        "NSECHAIN_LAKE_WAREHOUSE": str(settings.lake_warehouse),
        "NSECHAIN_LAKE_BATCH_FILES": "3",  # small batches: many commits, many races
    }
    with open_catalog(settings) as catalog:
        for kind in ("option_quotes", "fetch_log"):  # created once, before the race
            open_table(catalog, "nsechain", kind)
    shards = [ShardRun(i, tmp_path, sim, lake_env) for i in range(SHARDS)]
    for shard in shards:
        shard.start_collector()
        shard.start_committer("--every", "0.5")
    try:
        kills = _kill_loop(shards, random.Random(17))
        _finish(shards)
    finally:
        for shard in shards:
            _kill(shard.collector)
            _kill(shard.committer)

    reports = [check_store(s.data, s.db) for s in shards]
    for shard, report in zip(shards, reports, strict=True):
        assert report.problems() == [], (report.problems(), shard.log_tail())
        assert report.pending_files == 0 and report.db_rows == report.file_rows > 0
    file_rows = sum(r.file_rows for r in reports)
    file_fetch_rows = sum(r.file_fetch_rows for r in reports)

    got = counts(settings)
    quotes = got["option_quotes"]
    if quotes["rows"] != file_rows:
        _diagnose(settings, shards)
    assert quotes["rows"] == file_rows  # 0 lost, 0 duplicated
    assert quotes["files"] == quotes["distinct_files"]
    assert quotes["batches"] == quotes["distinct_batches"]
    assert got["fetch_log"]["rows"] == file_fetch_rows
    with open_catalog(settings) as catalog:
        lake = open_table(catalog, "nsechain", "option_quotes").scan(selected_fields=tuple(KEY))
        table = lake.to_arrow()
    assert table.group_by(KEY).aggregate([]).num_rows == table.num_rows  # no key twice

    # Each pair from the shard that owns it, and NIFTY's expiries from more than one shard.
    by_shard: dict[int, set[tuple[str, date]]] = defaultdict(set)
    for shard in shards:
        with duckdb.connect(str(shard.db), read_only=True) as con:
            rows = con.sql("SELECT DISTINCT symbol, expiry FROM option_quotes").fetchall()
        by_shard[shard.index] = {(s, e) for s, e in rows}
    for index, pairs in by_shard.items():
        for symbol, expiry in pairs:
            assert pair_owner(symbol, symbol in INDEX_SYMBOLS, expiry, SHARDS) == index
    nifty_shards = {i for i, pairs in by_shard.items() for s, _ in pairs if s == "NIFTY"}
    assert len(nifty_shards) > 1
    lake_pairs = set(
        zip(
            table.column("symbol").to_pylist(),
            pc.cast(table.column("expiry"), "date32").to_pylist(),
            strict=True,
        )
    )
    assert lake_pairs == set().union(*by_shard.values())
    print(
        f"kills={kills} lake rows={quotes['rows']} files={quotes['files']} "
        f"batches={quotes['batches']} per shard rows={[r.file_rows for r in reports]}"
    )


def _diagnose(settings: Settings, shards: list[ShardRun]) -> None:
    """On a mismatch, print each tick file whose rows the lake does not hold exactly once."""
    from nsechain.lake.tables import open_catalog, open_table

    with open_catalog(settings) as catalog:
        files = open_table(catalog, "nsechain", "option_quotes").inspect.files()
    stems = [Path(p).stem for p in files.column("file_path").to_pylist()]
    lake = dict(zip(stems, files.column("record_count").to_pylist(), strict=True))
    for shard in shards:
        root = shard.data / "options_processed"
        for path in list_tick_files(root):
            rows = pq.read_metadata(path).num_rows
            held = lake.get(path.stem)
            if held != rows:
                print(f"shard {shard.index} {path.relative_to(root)}: {rows} rows, lake {held}")
