"""Benchmark: the lake journal (``lake.ledger``) read incrementally beside re-read every time.

Where it sits: run by hand (``python bench/bench_ledger.py``; no lake extra, no server);
nothing imports it. A collector's lake thread asks its journal which tick files are committed
three times a pass (files pending before the commit, files not in the lake after it, and
retention's cutoff), one pass per ``batch_interval_s``, for months: a done journal per batch,
tens of thousands of them. This writes ``--journals`` done journals (5 tick files each: a
5-minute batch of 1-minute ticks), then runs ``--passes`` passes of the lake thread's journal
work (one new batch journalled and finished, three ``committed()`` calls):

* **ours**: one ``Ledger`` kept across passes (what the lake thread's writer holds): each done
  journal is read once, a batch it finishes itself is never read back;
* **baseline**: a fresh ``Ledger`` for every call, which reads every done journal each time:
  what the journal did before it remembered (and what a process that starts anew pays once).

It prints journal files opened, bytes read and wall time per pass, with the ratio.

    python bench/bench_ledger.py [--journals 5000] [--passes 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nsechain.lake.ledger import Ledger

FILES_PER_BATCH = 5
CALLS_PER_PASS = 3


def seed(root: Path, journals: int) -> None:
    """``journals`` done journals, written plainly (the setup needs no fsync)."""
    done = root / "done"
    done.mkdir(parents=True)
    for n in range(journals):
        day, minute = divmod(n * FILES_PER_BATCH, 375)
        folder = f"2026{1 + day // 28:02d}{1 + day % 28:02d}"
        files = [f"{folder}/tick_{minute + i:04d}.parquet" for i in range(FILES_PER_BATCH)]
        batch = f"20260101T000000{n:06d}-{n:012x}"
        (done / f"{batch}.json").write_text(json.dumps({"batch": batch, "files": files}))


def run(
    writer: Ledger, passes: int, ledger_for_call: Callable[[], Ledger]
) -> tuple[int, int, float]:
    """(journals opened, bytes read, seconds) over ``passes`` passes; ``writer`` journals the
    new batches (its own reads before the passes are not counted)."""
    opened: list[Ledger] = []
    started = time.perf_counter()
    for p in range(passes):
        batch = writer.start([f"2027/tick_{p:04d}_{i}.parquet" for i in range(5)], f"2027{p:06d}")
        writer.finish(batch)
        for _ in range(CALLS_PER_PASS):
            ledger = ledger_for_call()
            assert set(batch.files) <= ledger.committed()
            opened.append(ledger)
    seconds = time.perf_counter() - started
    unique = {id(x): x for x in opened}.values()
    return sum(x.reads for x in unique), sum(x.bytes_read for x in unique), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--journals", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nsechain-ledger-") as tmp:
        root = Path(tmp) / "lake"
        seed(root, args.journals)
        kept = Ledger(root)
        started = time.perf_counter()
        kept.committed()  # a process's first call reads every journal once
        first = (kept.reads, kept.bytes_read, time.perf_counter() - started)
        kept.reads = kept.bytes_read = 0
        ours = run(kept, args.passes, lambda: kept)
        base = run(Ledger(root), args.passes, lambda: Ledger(root))
    print(
        f"lake journal, {args.journals} done journals, {args.passes} passes "
        f"({CALLS_PER_PASS} committed() calls each), per pass:"
    )
    print(f"{'':24} {'ours':>12} {'baseline':>12} {'ratio':>8}")
    names = ("journals opened", "bytes read", "ms")
    for name, our, their in zip(names, ours, base, strict=True):
        scale = (1000.0 if name == "ms" else 1.0) / args.passes
        a, b = our * scale, their * scale
        ratio = f"{b / a:.0f}x" if a else "none"
        print(f"{name:24} {a:12.1f} {b:12.1f} {ratio:>8}")
    print(
        f"(ours: one Ledger kept across passes, as the lake thread's writer holds it; its "
        f"first call, once per process, read {first[0]} journals, {first[1]} bytes, "
        f"in {first[2] * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
