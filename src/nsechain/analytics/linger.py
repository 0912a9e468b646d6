"""A read-only connection that outlives one Desk call by a moment, and never a load's flag.

Where it sits: under ``nsechain.query`` (the Desk's default, path-backed mode). Opening the
DuckDB file costs more than many queries on it (the catalog and the table metadata are read
again on each open; issue 20 measured a per-call desk 1.57x slower than a held connection at 20
days of history). Holding the file, though, keeps the collector's loader out (DESIGN.md §6).

So the connection lingers: a call that follows within ``linger_s`` of the last one reuses it,
if the file is still the same (its stamp: inode, size, mtime) and no loader has raised its
``<db>.load-wanted`` flag (``store.loadflag``). A watcher thread closes it once it has been idle
for ``linger_s``, or within one poll (20 ms) of the flag going up, so a load waits at most for
the query in progress, as before. A loop of calls, or one command's few queries, open the file
once; a notebook left idle holds nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from nsechain.analytics.db import open_read_only
from nsechain.store.loadflag import load_is_wanted

__all__ = ["DEFAULT_LINGER_S", "LingeringConnection"]

#: How long an idle connection stays open for the next call.
DEFAULT_LINGER_S = 1.0
_POLL_S = 0.02

Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class LingeringConnection:
    """One cached read-only connection to ``path``, lent to one call at a time."""

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float, linger_s: float) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.linger_s = linger_s
        self.opens = 0  #: how many times the file was opened (for tests and the bench)
        # One call at a time on the connection, and the watcher; re-entrant, so a call made
        # inside another (same thread) shares its connection instead of deadlocking.
        self._lock = threading.RLock()
        self._depth = 0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stamp: Stamp | None = None
        self._idle_since = 0.0
        self._watcher: threading.Thread | None = None

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            con = self._fresh() if self._depth == 0 or self._con is None else self._con
            self._depth += 1
            try:
                yield con
            finally:
                self._depth -= 1
                self._idle_since = time.monotonic()
                if self._depth == 0:
                    self._watch()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _fresh(self) -> duckdb.DuckDBPyConnection:
        """The cached connection if still good for this file; else a new one."""
        if self._con is not None and (
            load_is_wanted(self.path) or _stamp(self.path) != self._stamp
        ):
            self._drop()
        if self._con is None:
            self._con = open_read_only(self.path, timeout_s=self.timeout_s)
            self._stamp = _stamp(self.path)
            self.opens += 1
        return self._con

    def _drop(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con, self._stamp = None, None

    def _watch(self) -> None:
        if self.linger_s <= 0:
            self._drop()
            return
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(
                target=self._close_when_idle, name="nsechain-desk-linger", daemon=True
            )
            self._watcher.start()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(_POLL_S)
            if not self._lock.acquire(blocking=False):
                continue  # a call is running: it owns the connection
            try:
                if self._con is None:
                    return
                if time.monotonic() - self._idle_since >= self.linger_s or load_is_wanted(
                    self.path
                ):
                    self._drop()
                    return
            finally:
                self._lock.release()
