"""How many option-chain responses per second the NSE simulator serves over loopback.

Where it sits: ``bench/``; run ``.venv/bin/python bench/bench_sim.py``. It starts the
simulator in a child process (``SimulatorProcess``; ``--in-process`` to share this process's
GIL instead) at an accelerated clock during market hours, so most requests land on a new
simulated second and must be rendered rather than served from the cache. Then it bootstraps
cookies and sends a bounded number of requests with one keep-alive httpx client per thread,
round-robin over every stock's nearest expiry and over all of NIFTY's expiries. A last line
repeats the stock run with the stdlib's lighter ``http.client``: httpx itself costs about as
much CPU per response as the simulator, so that line is closer to the simulator's capacity.
Goal: the simulator is never the bottleneck, at least 200 stock-chain responses per second on
a 2-core machine.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import httpx

from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig, Simulator
from nsechain.sim.universe import STOCKS


def _urls(base_url: str, kind: str) -> Iterator[str]:
    symbols = [u.symbol for u in STOCKS] if kind == "stock" else ["NIFTY"]
    pairs: list[tuple[str, str]] = []
    with httpx.Client(base_url=base_url) as client:
        client.get("/option-chain")
        for symbol in symbols:
            info = client.get(f"/api/option-chain-contract-info?symbol={quote(symbol)}").json()
            dates = info["expiryDates"]
            pairs.extend((symbol, e) for e in (dates[:1] if kind == "stock" else dates))
    typ = "Equity" if kind == "stock" else "Indices"
    for symbol, expiry in itertools.cycle(pairs):
        yield f"/api/option-chain-v3?type={typ}&symbol={quote(symbol)}&expiry={expiry}"


def _run(base_url: str, kind: str, total: int, threads: int) -> tuple[float, int, int]:
    urls = _urls(base_url, kind)
    lock = threading.Lock()
    counts = {"ok": 0, "bytes": 0}

    def worker(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            client.get("/option-chain")
            for _ in range(n):
                with lock:
                    url = next(urls)
                r = client.get(url)
                ok = r.status_code == 200 and r.content.startswith(b'{"records"')
                with lock:
                    counts["ok"] += ok
                    counts["bytes"] += len(r.content)

    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - t0, counts["ok"], counts["bytes"]


def _run_raw(base_url: str, total: int) -> tuple[float, int]:
    # One keep-alive http.client connection: far less client-side CPU than httpx.
    urls = _urls(base_url, "stock")
    with httpx.Client(base_url=base_url) as boot:
        boot.get("/option-chain")
        cookie = "; ".join(f"{k}={v}" for k, v in boot.cookies.items())
    where = urlsplit(base_url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
    headers = {"Cookie": cookie, "Accept-Encoding": "gzip, deflate"}
    ok = 0
    t0 = time.perf_counter()
    try:
        for _ in range(total):
            conn.request("GET", next(urls), headers=headers)
            response = conn.getresponse()
            response.read()
            ok += response.status == 200
    finally:
        conn.close()
    return time.perf_counter() - t0, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="stock-chain requests")
    parser.add_argument("--nifty-requests", type=int, default=500, help="NIFTY requests")
    parser.add_argument("--threads", type=int, default=2, help="concurrent keep-alive clients")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated clock speed")
    parser.add_argument("--in-process", action="store_true", help="no child process")
    parser.add_argument("--no-gzip", action="store_true", help="send bodies uncompressed")
    args = parser.parse_args()
    config = SimConfig(
        seed=1, speed=args.speed, start="2026-11-25T10:00:00", prewarm=True, gzip=not args.no_gzip
    )
    where = "in-process" if args.in_process else "child process"
    with Simulator(config) if args.in_process else SimulatorProcess(config) as sim:
        for kind, total in (("stock", args.requests), ("nifty", args.nifty_requests)):
            elapsed, ok, size = _run(sim.base_url, kind, total, args.threads)
            print(
                f"{kind:>5} chains: {ok} ok of {total} in {elapsed:.2f} s = "
                f"{ok / elapsed:,.0f} responses/s, {size / ok / 1024:,.0f} kB each "
                f"({args.threads} keep-alive clients, simulator in {where}, speed {args.speed:g}, "
                f"gzip {'off' if args.no_gzip else 'on'})"
            )
        elapsed, ok = _run_raw(sim.base_url, args.requests)
        print(
            f"stock chains: {ok} ok of {args.requests} in {elapsed:.2f} s = "
            f"{ok / elapsed:,.0f} responses/s with one http.client connection"
        )
        served = sim.counters()
        print(f"simulator counted {served['requests_total']} requests, faults {served['faults']}")


if __name__ == "__main__":
    main()
