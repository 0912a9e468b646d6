"""A reader storm: threads that read the DuckDB file read-only, as fast as they can.

Where it sits: the crash loop (``chaos/crashloop.py``) runs one beside the collector it kills
(``python -m nsechain.chaos crashloop --readers 20``; ``make chaos`` has a scenario). The
readers live in the harness's process, so for DuckDB they are another process than the
collector: each read opens the file through the one door (``store.db.open_db``), runs a query
a dashboard would, and closes it. The storm must never cost data (the store checks judge
that) and the loader must still get the file: its refused loads ("load waiting") are counted
from the collector logs afterwards.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import duckdb

from nsechain.errors import StorageError
from nsechain.store.db import open_db

__all__ = ["ReaderStorm", "count_refused_loads", "load_waits_ms"]

_WAIT = re.compile(r" load files=.* wait_ms=(\d+)")
_QUERY = "SELECT symbol, count(*), max(exchange_ts) FROM option_quotes GROUP BY symbol"


class ReaderStorm:
    """``threads`` readers of ``db_path`` until ``stop()``; ``counts`` says how reads ended."""

    def __init__(self, db_path: Path, threads: int, lock_timeout_s: float = 5.0) -> None:
        self.db_path = db_path
        self.lock_timeout_s = lock_timeout_s
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, daemon=True) for _ in range(threads)]

    def __enter__(self) -> ReaderStorm:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _read(self) -> None:
        while not self._stop.is_set():
            if not self.db_path.exists():
                self._stop.wait(0.1)
                continue
            try:
                con = open_db(self.db_path, read_only=True, lock_timeout_s=self.lock_timeout_s)
            except StorageError as exc:  # DatabaseLocked included: gave up after the timeout
                self._count("locked" if "lock" in str(exc).lower() else "unavailable")
                continue
            try:
                con.execute(_QUERY).fetchall()
                self._count("reads")
            except duckdb.Error:
                self._count("no_tables")  # a fresh file the loader has not filled yet
            finally:
                con.close()


def _lines(logs: Path) -> list[str]:
    return [
        line
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
    ]


def count_refused_loads(logs: Path) -> int:
    """ "load waiting" lines in every collector log under ``logs``."""
    return sum(line.count("load waiting") for line in _lines(logs))


def load_waits_ms(logs: Path) -> list[int]:
    """How long each logged load waited for the file (its ``wait_ms``): the delay between a
    load's schedule and its start, read from the collector logs, never timed here."""
    return [int(m.group(1)) for line in _lines(logs) if (m := _WAIT.search(line))]
