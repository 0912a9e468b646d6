"""Waiting for a token: the first-come first-served line against the old sleep-and-retry loop.

Where it sits: ``bench/``; run ``.venv/bin/python bench/bench_bucket.py`` (about 25 s). The
collector's fetch workers (45 at 10 req/s by default) all wait on one ``TokenBucket``. Here
``--threads`` threads do what a worker does: take a token, hold a "request" for ``--latency``
seconds (a sleep: NSE's answer), take the next; ``--busy`` threads burn CPU meanwhile (the
workers that parse answers hold the GIL, so a thread due to take a token wakes late). Two
buckets in turn:

- ``retry``: the loop before issue 12's fourth round: every waiter sleeps until the next token
  is due, all wake, one wins, the others sleep again (a free token woke every waiter);
- ``line`` (``nse/ratelimit.py``): waiters queue; only the head sleeps until the next token,
  and the token that accrues while it oversleeps is kept (one over the burst at most).

Printed per bucket: tokens granted against ``rate ×`` the seconds they span, the sleeps
(wake-ups) per token, this process's CPU in ms per token (with ``--busy``, mostly theirs),
the longest wait for one token, and the spread of tokens between threads (max - min: 0 or 1
is fair). Then line ÷ retry.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

from nsechain.nse.ratelimit import TokenBucket


class RetryBucket(TokenBucket):
    """The old ``acquire``: sleep until a token is due, re-check, repeat (no line)."""

    def acquire(self, *, first: bool = False) -> None:
        while True:
            with self._lock:
                wait = self._take()
            if wait == 0.0:
                return
            self._sleep(wait)


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(make: Callable[..., TokenBucket], args: argparse.Namespace) -> dict[str, Any]:
    sleeps = 0
    count_lock = threading.Lock()

    def counted_sleep(seconds: float) -> None:
        nonlocal sleeps
        with count_lock:
            sleeps += 1
        time.sleep(seconds)

    bucket = make(args.rate, 1, sleep=counted_sleep)
    bucket.acquire()  # start empty, as a running collector's bucket is
    per_thread = [0] * args.threads
    longest = [0.0] * args.threads
    last_grant = [0.0] * args.threads
    deadline = time.monotonic() + args.seconds

    def worker(i: int) -> None:
        while True:
            asked = time.monotonic()
            if asked >= deadline:
                return
            bucket.acquire()
            last_grant[i] = time.monotonic()
            longest[i] = max(longest[i], last_grant[i] - asked)
            per_thread[i] += 1
            time.sleep(args.latency)  # the request in flight

    def busy() -> None:  # a parsing worker: pure Python holding the GIL
        x = 0
        while time.monotonic() < deadline:
            for i in range(10_000):
                x += i

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    threads += [threading.Thread(target=busy) for _ in range(args.busy)]
    cpu0, began = _cpu_s(), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = _cpu_s() - cpu0, time.monotonic() - began
    tokens = sum(per_thread)
    return {
        "tokens": tokens,
        # The last waiters are served after the deadline: the rate over the tokens' span.
        "expected": args.rate * (max(last_grant) - began),
        "sleeps_per_token": sleeps / max(1, tokens),
        "cpu_ms_per_token": 1000.0 * cpu / max(1, tokens),
        "cpu_pct": 100.0 * cpu / wall,
        "longest_wait_s": max(longest),
        "spread": max(per_thread) - min(per_thread),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=45, help="waiting workers")
    parser.add_argument("--rate", type=float, default=10.0, help="tokens per second")
    parser.add_argument("--latency", type=float, default=1.5, help="seconds a token is used")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument(
        "--busy", type=int, default=0, help="threads burning CPU beside them (parsing)"
    )
    args = parser.parse_args()
    print(
        f"{args.threads} threads, {args.rate:g} tokens/s, {args.latency:g} s per request, "
        f"{args.seconds:g} s each, {args.busy} busy threads"
    )
    print(
        f"{'bucket':>6} {'tokens':>6} {'of':>5} {'sleeps/token':>12} {'cpu ms/token':>12} "
        f"{'cpu%':>5} {'longest wait':>12} {'spread':>6}"
    )
    results = {}
    for name, make in (("retry", RetryBucket), ("line", TokenBucket)):
        r = results[name] = run(make, args)
        print(
            f"{name:>6} {r['tokens']:>6} {r['expected']:>5.0f} {r['sleeps_per_token']:>12.2f}"
            f" {r['cpu_ms_per_token']:>12.3f} {r['cpu_pct']:>5.1f} {r['longest_wait_s']:>11.2f}s"
            f" {r['spread']:>6}"
        )
    old, new = results["retry"], results["line"]
    print(
        f"line / retry: sleeps per token {new['sleeps_per_token'] / old['sleeps_per_token']:.3f},"
        f" CPU per token {new['cpu_ms_per_token'] / old['cpu_ms_per_token']:.2f},"
        f" tokens {new['tokens'] / old['tokens']:.2f}"
    )


if __name__ == "__main__":
    main()
