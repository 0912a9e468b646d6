"""A read-only connection that outlives one Desk call by a moment, and never a load's flag.

Where it sits: under ``nsechain.query`` (the Desk's default, path-backed mode). Opening the
DuckDB file costs more than many queries on it (the catalog and the table metadata are read
again on each open; issue 20 measured a per-call desk 1.57x slower than a held connection at 20
days of history). Holding the file, though, keeps the collector's loader out (DESIGN.md §6).

So the connection lingers: a call that follows within ``linger_s`` of the last one reuses it,
if the file is still the same (its stamp: inode, size, mtime) and no loader has raised its
``<db>.load-wanted`` flag (``store.loadflag``). The process's one watcher thread of that flag
(``store.loadflag.FlagWatcher``, shared with the dashboard's ``LoadWatch``) closes it once it
has been idle for ``linger_s``, or within one poll (20 ms) of the flag going up, so a load
waits at most for the query in progress, as before. A load in this same process closes it
before opening the file (DuckDB would refuse that open outright, not wait for a lock). A loop
of calls, or one command's few queries, open the file once; a notebook left idle holds
nothing.
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
from nsechain.store.loadflag import load_is_wanted, watcher_for

__all__ = ["DEFAULT_LINGER_S", "LingeringConnection"]

#: How long an idle connection stays open for the next call.
DEFAULT_LINGER_S = 1.0

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
        self._watcher = watcher_for(self.path)

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
        self._watcher.unsubscribe(self)

    def _watch(self) -> None:
        """After a call: keep the connection for the next one, watched, or let it go now."""
        if self.linger_s <= 0 or load_is_wanted(self.path):
            self._drop()  # a load waited for this call: it goes first
            return
        self._watcher.subscribe(self)

    def flag_poll(self, wanted: bool) -> None:
        """The watcher's poll (``store.loadflag.FlagWatcher``): close when idle or wanted."""
        if not self._lock.acquire(blocking=False):
            return  # a call is running: it owns the connection, and drops it if wanted
        try:
            if self._depth == 0 and (
                wanted or time.monotonic() - self._idle_since >= self.linger_s
            ):
                self._drop()
        finally:
            self._lock.release()

    def release_now(self) -> None:
        """A load in this process is about to open the file: close it unless in use (the call
        in use closes it when it ends, seeing the flag)."""
        self.flag_poll(True)
