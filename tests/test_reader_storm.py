"""The loader has priority over readers: 20 API clients hammer a standalone dashboard (the
database opened read-only per request, from this process) while a collector in its own
process loads every couple of seconds. Every load gets the file: the collector's log shows no
``load waiting`` line. Counted from the log, never timed."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from conftest import wait_for
from nsechain.collector.status import read_status
from nsechain.config import load_settings
from nsechain.sim.server import SimConfig, Simulator
from nsechain.web import start_dashboard

CLIENTS = 20
LOADS = 6


def _collector(sim: Simulator, data: Path, db: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [
        *("--symbols", "NIFTY,BANKNIFTY", "--expiries", "1", "--interval", "1"),
        *("--batch-interval", "2", "--rate", "50", "--ignore-market-hours", "--no-live"),
        *("--data-dir", str(data), "--db", str(db), "--base-url", sim.base_url),
    ]
    env = {
        "NSECHAIN_CHECK_EXCHANGE_TS": "false",  # the simulator replays 2026-11-25
        "NSECHAIN_STATUS_INTERVAL_S": "0.3",
        "PATH": "/usr/bin:/bin",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "nsechain", "collect", *args], stderr=out, stdout=out, env=env
        )


def test_loads_are_not_refused_under_a_reader_storm(tmp_path: Path) -> None:
    data, db, log = tmp_path / "data", tmp_path / "chain.duckdb", tmp_path / "collect.log"
    settings = load_settings(data_dir=data, db_path=db)
    codes: Counter[int] = Counter()
    stop = threading.Event()

    def batch(key: str) -> int:
        st = read_status(settings.status_path)
        return int(st["batch_thread"][key]) if st else 0

    with Simulator(SimConfig(seed=4, speed=60, start="2026-11-25T10:00:00")) as sim:
        proc = _collector(sim, data, db, log)
        try:
            wait_for(lambda: batch("rows_loaded") > 0, timeout=90)
            with start_dashboard(settings=settings, port=0, lock_timeout_s=30) as dash:

                def client(seed: int) -> None:
                    rng = random.Random(seed)
                    with httpx.Client(base_url=dash.url, timeout=60) as http:
                        while not stop.is_set():
                            # A new strikes count each time: a cache miss, the file opened.
                            url = f"/api/chain/NIFTY?strikes={rng.randint(1, 200)}"
                            codes[http.get(url).status_code] += 1

                threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
                for t in threads:
                    t.start()
                try:
                    start, began = batch("batches"), time.monotonic()
                    deadline = time.monotonic() + 120
                    while batch("batches") < start + LOADS and time.monotonic() < deadline:
                        time.sleep(0.2)
                    storm_s = time.monotonic() - began
                finally:
                    stop.set()
                    for t in threads:
                        t.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    lines = log.read_text().splitlines()
    waits = [line for line in lines if "load waiting" in line]
    loads = [line for line in lines if " load files=" in line]
    waited = sorted(int(line.rsplit("wait_ms=", 1)[1].split()[0]) for line in loads)
    print(
        f"loads={len(loads)} lock_waits={len(waits)} answers={dict(codes)} storm_s={storm_s:.0f}"
        f" wait_ms_max={waited[-1] if waited else None}"
    )
    assert waits == [], (len(loads), len(waits), waits[:2])
    assert len(loads) >= LOADS
    assert codes[200] >= CLIENTS and set(codes) <= {200, 404}  # readers were served too
