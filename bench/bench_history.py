"""Benchmark: ``nsechain import`` against the parser alone, and what raw capture costs.

Where it sits: ``make bench`` runs it; nothing imports it. Needs the real captures in
../shared/fixtures/nse (skips with a message otherwise). Prints, asserts nothing:

* import throughput: rows/s of ``import_paths`` (parse, snapshot fingerprints, tick files,
  exactly-once load) over N copies of a real legacy NIFTY capture, each with its own minute,
  beside rows/s of ``parse_chain`` alone over the same bodies; the ratio is import/parser.
* raw capture per interval: one 60 s interval at the 3 req/s budget is 180 chain bodies; the
  bodies are the real v3 NIFTY and RELIANCE captures with every leg's numbers jittered (so zstd
  cannot just dedupe copies). Time of ``RawCapture.add`` ×180 + ``flush``, and bytes written.
* bytes per full-universe day: one IP's budget bounds a day's bodies (3 req/s × 6 h 15 min =
  67,500 chain calls), so a day of raw capture is that many bodies at the measured bytes/body.

    python bench/bench_history.py [--copies 120] [--rate 3]
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from nsechain.collector.manager import make_loader
from nsechain.config import load_settings
from nsechain.nse.parse import parse_chain
from nsechain.store.history import import_paths
from nsechain.store.rawcapture import RawCapture
from nsechain.timeutil import IST

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "nse"
LEGACY = "legacy_indices_NIFTY_2025-07-17_1530.json"
V3 = ("v3_indices_NIFTY_2026-08-11_112903.json", "v3_equity_RELIANCE_2026-08-11_112849.json")
SESSION_S = 6 * 3600 + 15 * 60
T0 = datetime(2025, 7, 17, 9, 15, tzinfo=IST)


def import_bench(folder: Path, copies: int) -> None:
    body = (FIXTURES / LEGACY).read_bytes()
    stamp = b"17-Jul-2025 15:30:00"
    bodies = []
    for i in range(copies):
        at = (T0 + timedelta(minutes=i)).strftime("%d-%b-%Y %H:%M:%S").encode()
        bodies.append(body.replace(stamp, at))
        (folder / "in" / f"NIFTY_2025-07-17_{i:04d}.json").write_bytes(bodies[-1])
    started = time.perf_counter()
    rows = sum(parse_chain(b, symbol="NIFTY", fetched_at=T0).table.num_rows for b in bodies)
    parse_s = time.perf_counter() - started
    settings = load_settings(data_dir=folder / "data", db_path=folder / "x.duckdb")
    started = time.perf_counter()
    report = import_paths(settings, [folder / "in"], make_loader(settings))
    import_s = time.perf_counter() - started
    assert report.rows == rows, (report.rows, rows)
    mb = len(body) * copies / 1e6
    print(f"import: {copies} captures, {mb:.0f} MB of JSON, {rows:,} rows")
    print(f"  parser alone   {rows / parse_s:>12,.0f} rows/s  ({parse_s:.2f} s)")
    print(f"  nsechain import{rows / import_s:>12,.0f} rows/s  ({import_s:.2f} s)")
    print(f"  ratio import/parser = {parse_s / import_s:.2f}x")


def _jitter(doc: object, rnd: random.Random) -> object:
    if isinstance(doc, dict):
        return {k: _jitter(v, rnd) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_jitter(v, rnd) for v in doc]
    if isinstance(doc, float):
        return round(doc * (1 + rnd.uniform(-0.02, 0.02)), 2)
    if isinstance(doc, int) and not isinstance(doc, bool) and doc > 100:
        return doc + rnd.randint(-50, 50)
    return doc


def raw_bench(folder: Path, rate: float) -> None:
    rnd = random.Random(7)
    docs = [orjson.loads((FIXTURES / name).read_bytes()) for name in V3]
    per_interval = int(rate * 60)
    bodies = [orjson.dumps(_jitter(docs[i % 2], rnd)) for i in range(per_interval)]
    raw = RawCapture(folder / "raw")
    times, sizes = [], []
    for interval in range(3):
        at = T0 + timedelta(minutes=interval)
        started = time.perf_counter()
        for body in bodies:
            raw.add(body, symbol="NIFTY", expiry=at.date(), endpoint="option-chain-v3",
                    fetched_at=at, http_status=200)  # fmt: skip
        path = raw.flush(at)
        times.append(time.perf_counter() - started)
        assert path is not None
        sizes.append(path.stat().st_size)
    json_bytes = sum(map(len, bodies))
    per_body = sizes[-1] / per_interval
    day_bodies = rate * SESSION_S
    print(f"raw capture: {per_interval} bodies per 60 s interval at {rate:g} req/s")
    print(f"  JSON {json_bytes / 1e6:.1f} MB → {sizes[-1] / 1e6:.2f} MB zstd "
          f"(×{json_bytes / sizes[-1]:.1f}), {per_body / 1e3:.1f} kB/body")  # fmt: skip
    print(f"  cost per interval {min(times) * 1000:.0f} ms (best of 3; CPU of one core)")
    print(f"  bytes per full-universe day ({day_bodies:,.0f} chain calls at the budget): "
          f"{per_body * day_bodies / 1e9:.2f} GB")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=120)
    ap.add_argument("--rate", type=float, default=3.0)
    args = ap.parse_args()
    if not FIXTURES.is_dir():
        print(f"skipped: NSE fixtures not found at {FIXTURES}")
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "in").mkdir()
        import_bench(Path(tmp), args.copies)
        raw_bench(Path(tmp), args.rate)


if __name__ == "__main__":
    main()
