"""Ray Data reads the lake on a 2-node Ray cluster and gets the desk's per-day PCR, exactly;
both nodes read: the script counts the quotes each node's read tasks returned (every quote
once, some on each node, by the cluster's two node ids).

Run by ``make test-scale`` (it installs the ``scale`` extra); ``make test`` deselects the marker.
Ray binds to the host's address even when asked for 127.0.0.1, so the cluster lives in a
loopback-only network namespace this test creates (``ip netns``; root). Both nodes and the
driver (``examples/ray_pcr.py``) run in it; the catalog, the test's private PostgreSQL, is
reached over its Unix socket, the warehouse is a folder. A second node joins only with
``RAY_AUTH_MODE=disabled``. Every process started is ended by its id, the namespace deleted.

The data: the real NIFTY and RELIANCE v3 captures, as tick files over two days, a few
snapshots a day, two expiries of NIFTY, with OI and volume changed from one snapshot to the
next (so "the latest snapshot of each expiry" matters), loaded into DuckDB by the real loader
and committed to the lake by the real writer.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import fixture_bytes
from lakeservers import Postgres, missing
from nsechain.config import Settings
from nsechain.contract import FETCH_LOG_SCHEMA
from nsechain.nse.parse import parse_chain
from nsechain.store.files import write_tick
from nsechain.store.loader import Loader
from nsechain.timeutil import IST
from test_lake import catalog_url, lake_settings, postgres  # noqa: F401 (fixtures)

pytestmark = pytest.mark.scale

ROOT = Path(__file__).resolve().parents[1]
DAYS = (datetime(2026, 8, 11, 9, 20, tzinfo=IST), datetime(2026, 8, 12, 9, 20, tzinfo=IST))
SNAPSHOTS_A_DAY = 4
CHAINS = 3  # what _chains() returns
# One read task per tick file (one lake file each), so that both nodes surely get some: Ray
# Data spreads its read tasks, but a worker that is done takes the next one queued while the
# other node's first worker is still being leased; of Ray Data's own choice here, 4 (2 per
# CPU), one node got a single one (with 24: 7 or more).
READ_TASKS = len(DAYS) * SNAPSHOTS_A_DAY * CHAINS
HEAD_PORT = 6379  # free: the namespace is the test's own


def _need_ray() -> Path:
    try:
        import ray  # noqa: F401
    except ImportError:
        missing("the scale extra (ray[data]) is not installed: make test-scale")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing("a network namespace for Ray needs root and iproute2 (ip)")
    return Path(sys.executable).with_name("ray")


def _chains() -> list[pa.Table]:
    """NIFTY (two expiries: the capture's and one a week later) and RELIANCE."""
    at = DAYS[0]
    nifty = parse_chain(
        fixture_bytes("v3_indices_NIFTY_2026-08-11_112903.json"), symbol="NIFTY", fetched_at=at
    ).table
    week = pa.scalar(timedelta(days=7), pa.duration("s"))
    expiry = nifty.schema.field("expiry")
    later_expiry = pc.add(nifty.column("expiry"), week).cast(expiry.type)
    later = nifty.set_column(nifty.schema.get_field_index("expiry"), expiry, later_expiry)
    stock = parse_chain(
        fixture_bytes("v3_equity_RELIANCE_2026-08-11_112849.json"),
        symbol="RELIANCE",
        fetched_at=at,
    ).table
    return [nifty, later, stock]


def _vary(table: pa.Table, at: datetime, k: int) -> pa.Table:
    """The chain at ``at``, its OI and volume scaled differently per side and snapshot."""
    ce = pc.equal(table.column("option_type"), "CE")
    oi = table.column("open_interest")
    factor = pc.if_else(ce, 1.0 + 0.05 * k, 1.0 + 0.11 * k)
    table = table.set_column(
        table.schema.get_field_index("open_interest"), "open_interest", pc.multiply(oi, factor)
    )
    volume = pc.add(table.column("volume"), pa.scalar(17 * k, pa.int64()))
    table = table.set_column(table.schema.get_field_index("volume"), "volume", volume)
    ts = table.schema.field("exchange_ts")
    return table.set_column(0, ts, pa.array([at] * table.num_rows, ts.type))


def _write_days(settings: Settings) -> int:
    rows, k = 0, 0
    for day in DAYS:
        for n in range(SNAPSHOTS_A_DAY):
            at = day + timedelta(minutes=7 * n)
            for chain in _chains():
                quotes = _vary(chain, at, k)
                k += 1
                log = pa.Table.from_pylist(
                    [
                        {
                            "fetched_at": at,
                            "symbol": quotes.column("symbol")[0].as_py(),
                            "endpoint": "option-chain-v3",
                            "outcome": "ok",
                        }
                    ],
                    schema=FETCH_LOG_SCHEMA,
                )
                write_tick(settings.pending_dir, at, quotes, log)
                rows += quotes.num_rows
    return rows


def _desk_daily(settings: Settings) -> dict[tuple[str, date], dict[str, object]]:
    """The desk's PCR at each day's end: the last minute row of ``Desk.pcr(symbol)``."""
    from nsechain.query import connect

    out: dict[tuple[str, date], dict[str, object]] = {}
    with connect(settings.db_path) as desk:
        for symbol in ("NIFTY", "RELIANCE"):
            for row in desk.pcr(symbol).to_pylist():  # in time order: the day's last wins
                out[symbol, row["exchange_ts"].astimezone(IST).date()] = row
    return out


class NetNs:
    """A loopback-only network namespace and the processes started in it."""

    def __init__(self, workdir: Path) -> None:
        self.name = f"nsechain-ray-{os.getpid()}-{secrets.token_hex(3)}"
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(
            ["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"], check=True
        )

    def start(self, args: list[str], log: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / log).open("ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.name, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """SIGTERM what we started (``ray start --block`` stops its node), then SIGKILL every
        process still in the namespace, by id: they are all ours."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while self._pids() and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):  # gone since
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait(30)
        subprocess.run(["ip", "netns", "del", self.name], check=False)

    def _pids(self) -> list[int]:
        out = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False
        )
        return [int(p) for p in out.stdout.split()]


@pytest.fixture
def netns() -> Iterator[NetNs]:
    _need_ray()
    # Ray's Unix socket paths must stay short: not under pytest's long tmp_path.
    workdir = Path(tempfile.mkdtemp(prefix="nsray"))
    ns = NetNs(workdir)
    try:
        yield ns
    finally:
        ns.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _ray_env() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NSECHAIN_", "RAY_"))},
        "RAY_AUTH_MODE": "disabled",  # or the second node cannot join
        "RAY_USAGE_STATS_ENABLED": "0",
    }


def _start_cluster(ns: NetNs) -> None:
    ray = str(_need_ray())
    common = [
        "--block",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        "--object-store-memory=150000000",
        "--disable-usage-stats",
    ]
    ns.start(
        [ray, "start", "--head", f"--port={HEAD_PORT}", "--include-dashboard=false",
         f"--temp-dir={ns.workdir / 'ray'}", *common],
        "head.log",
        _ray_env(),
    )  # fmt: skip
    # The second node on the same address: its agents need ports of their own.
    ns.start(
        [ray, "start", f"--address=127.0.0.1:{HEAD_PORT}", "--dashboard-agent-listen-port=52366",
         "--metrics-export-port=0", *common],
        "worker.log",
        _ray_env(),
    )  # fmt: skip


def _wait_for_two_nodes(ns: NetNs, timeout: float = 180) -> list[str]:
    """The two nodes' ids, once both are up."""
    check = (
        f"import ray; ray.init(address='127.0.0.1:{HEAD_PORT}', logging_level='ERROR');"
        "print(*sorted(n['NodeID'] for n in ray.nodes() if n['Alive']))"
    )
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for proc in ns.procs:
            assert proc.poll() is None, (ns.workdir / "head.log").read_text()[-3000:]
        done = subprocess.run(
            ["ip", "netns", "exec", ns.name, sys.executable, "-c", check],
            env=_ray_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        last = done.stdout.strip().splitlines()[-1:] and done.stdout.strip().splitlines()[-1]
        if done.returncode == 0 and len(last.split()) == 2:
            return last.split()
        time.sleep(2)
    raise AssertionError(f"the 2-node Ray cluster did not come up: {last!r}")


def test_ray_daily_pcr_over_the_lake_equals_the_desk(
    tmp_path: Path,
    postgres: Postgres,  # noqa: F811
    catalog_url: str,  # noqa: F811
    netns: NetNs,
) -> None:
    from nsechain.lake.writer import LakeWriter

    settings = lake_settings(tmp_path, catalog_url, db_path=tmp_path / "desk.duckdb")
    rows = _write_days(settings)
    s = settings
    assert (
        Loader(s.db_path, s.pending_dir, s.processed_dir, s.quarantine_dir)
        .load_pending()
        .quote_rows
        == rows
    )
    with LakeWriter(settings) as writer:
        assert writer.commit_pending(DAYS[1]).rows["option_quotes"] == rows
    desk = _desk_daily(settings)
    assert len(desk) == 4  # 2 symbols x 2 days

    _start_cluster(netns)
    node_ids = _wait_for_two_nodes(netns)
    out = netns.workdir / "pcr.parquet"
    env = {
        **_ray_env(),
        "NSECHAIN_LAKE_CATALOG_URL": postgres.socket_url(catalog_url),  # TCP is not in the netns
        "NSECHAIN_LAKE_WAREHOUSE": str(settings.lake_warehouse),
    }
    script = [sys.executable, str(ROOT / "examples" / "ray_pcr.py")]
    done = subprocess.run(
        ["ip", "netns", "exec", netns.name, *script, "--address", f"127.0.0.1:{HEAD_PORT}",
         "--out", str(out), "--read-tasks", str(READ_TASKS)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    line = re.search(r"^nodes=2 rows=4 read_on=(\d+) quotes_per_node=(\S+)$", done.stdout, re.M)
    assert line, done.stdout
    per_node = {node: int(n) for node, n in (pair.split(":") for pair in line[2].split(","))}
    assert int(line[1]) == len(per_node) >= 2, done.stdout  # two distinct nodes read
    assert sorted(per_node) == sorted(node[:8] for node in node_ids), (per_node, node_ids)
    assert sum(per_node.values()) == rows, per_node  # each quote read once
    ray_rows = pq.read_table(out).to_pylist()
    assert len(ray_rows) == len(desk)
    for got in ray_rows:
        want = desk[got["symbol"], got["day"]]
        assert got["expiries"] == want["expiries"], got
        for name in ("ce_oi", "pe_oi", "pcr_oi", "pcr_volume"):
            assert got[name] == pytest.approx(want[name], rel=1e-12), (name, got, want)
        for name in ("ce_volume", "pe_volume"):
            assert got[name] == want[name], (name, got, want)
    print(done.stdout)
