"""How the dashboard reads DuckDB without ever getting in the collector's way.

Where it sits: under ``web/app.py``. Each API request that needs the database borrows one
``nsechain.query.Desk`` from a reader for its duration, then gives it back (closed).

DuckDB's rules (DESIGN.md §6) decide the two strategies:

* **In the collector's process** (``collect --dashboard``): the loader opens the file
  read-write for each load. A second connection to the same file inside one process must use
  the *same* configuration, or the later one fails ("Can't open a connection to same database
  file with a different configuration"): a read-only reader would make the loader's open fail
  and delay the batch. So ``SharedReader`` opens the file with the loader's configuration
  (read-write, defaults). DuckDB then shares one database instance between the two: readers
  see committed data through MVCC and a load commits while a read is running (measured:
  a load's connect + insert took 2 ms during an 80 ms read; a warm connect costs 0.4 ms, a
  cold one 17 ms). The reader only ever runs SELECTs, and never creates the file.
* **In another process** (``nsechain serve``): DuckDB lets no other process open the file
  while the loader holds it, and the loader cannot open it while we do. ``ReadOnlyReader``
  goes through the query API's retry-on-lock path (``open_read_only``), holding the file
  only for one request, a few requests at a time. When the loader raises its flag
  (``store.loadflag``), queries in progress are interrupted (``LoadWatch``), the file is
  closed, and the request is asked again behind the load: on a CPU-starved machine a query
  can take longer than the loader's wait for the file, and a refused load waits 15 s
  (``collector/batch.py``'s ``LOAD_RETRY_S``). Nothing is lost either way.

Both wrap the same result cache: a database changes only when a batch commits, so results are
cached under the file's stamp (size and mtime of the file and its WAL). An auto-refreshing
page therefore opens the file once per load, not once per refresh, which keeps the collision
window of the read-only mode down to the first request after each load. Measured on a day of
3 symbols x 2 expiries x 75 snapshots (70k quote rows): a cache miss holds the file 30-90 ms
(symbols 29, fetch report 45, smile 51, chain 72, series 80 ms, medians), a hit takes 1 ms
and opens nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb

from nsechain.analytics.db import open_read_only
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.query import Desk
from nsechain.store.db import open_db
from nsechain.store.loadflag import LoadWatch

__all__ = ["NoDatabase", "ReadOnlyReader", "Reader", "SharedReader", "Stamp"]

Stamp = tuple[int, ...]
Mode = Literal["in-process", "read-only"]
# Read-only requests holding the file at once (one per core on the machines we target).
MAX_OPEN = max(1, min(4, os.cpu_count() or 1))


class NoDatabase(StorageError):
    """There is no database file yet (no batch has been loaded), or it has no tables yet."""


class Reader:
    """Lends a Desk per request and caches results per database stamp."""

    mode: Mode

    def __init__(self, db_path: Path, *, cache_size: int = 256) -> None:
        self.db_path = Path(db_path)
        self._cache: OrderedDict[tuple[Stamp, Any], Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.opens = 0  #: how many times the file was opened (the cache's effect, for tests)

    def stamp(self) -> Stamp:
        """Changes whenever a commit or checkpoint touches the file; NoDatabase if absent."""
        try:
            st = self.db_path.stat()
        except FileNotFoundError:
            raise NoDatabase(
                "no database yet: the collector has not loaded a batch", path=self.db_path
            ) from None
        try:
            wal = self.db_path.with_name(self.db_path.name + ".wal").stat()
            wal_part: Stamp = (wal.st_size, wal.st_mtime_ns)
        except FileNotFoundError:
            wal_part = (0, 0)
        return (st.st_size, st.st_mtime_ns, *wal_part)

    def cached(self, key: Any, compute: Callable[[Desk], Any]) -> Any:
        """``compute(desk)`` unless the same ``key`` was computed on this database state."""
        full = (self.stamp(), key)
        with self._lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
        value = self._compute(compute)
        with self._lock:
            self._cache[full] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def _compute(self, compute: Callable[[Desk], Any]) -> Any:
        with self.desk() as desk:
            return compute(desk)

    @contextmanager
    def desk(self) -> Iterator[Desk]:
        """A Desk on a connection of this reader's kind, closed afterwards."""
        self.stamp()  # NoDatabase before anything could create the file
        con = self._open()
        self.opens += 1
        try:
            yield Desk(con)
        except duckdb.CatalogException as exc:
            # The file exists but the loader has not created its tables yet.
            raise NoDatabase(f"no tables yet ({exc})", path=self.db_path) from None
        finally:
            self._close(con)

    def _open(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        con.close()


class SharedReader(Reader):
    """In the collector's process: the loader's configuration, so both share one instance."""

    mode: Mode = "in-process"

    def _open(self) -> duckdb.DuckDBPyConnection:
        # The loader's arguments (read-write, default config): see the module docstring.
        # Never read_only=True here: it would lock the loader out.
        return open_db(self.db_path)


class ReadOnlyReader(Reader):
    """In another process: read-only per request, retrying while a load holds the lock."""

    mode: Mode = "read-only"

    def __init__(
        self,
        db_path: Path,
        *,
        timeout_s: float = 10.0,
        cache_size: int = 256,
        max_open: int = MAX_OPEN,
    ) -> None:
        super().__init__(db_path, cache_size=cache_size)
        self.timeout_s = timeout_s
        self._holders = threading.BoundedSemaphore(max_open)
        self.watch = LoadWatch(self.db_path)
        self.retries = 0  #: requests asked again after a load interrupted them

    def _compute(self, compute: Callable[[Desk], Any]) -> Any:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return super()._compute(compute)
            except duckdb.InterruptException:
                # A load wants the file: our next open waits behind it (store.db).
                self.retries += 1
                if time.monotonic() >= deadline:
                    raise DatabaseLocked(
                        f"loads kept interrupting this request for {self.timeout_s:.0f} s; "
                        "try again",
                        path=self.db_path,
                    ) from None

    @contextmanager
    def desk(self) -> Iterator[Desk]:
        # Few holders at a time: twenty requests reading at once on two cores each hold the
        # file twenty times longer, and the loader (which waits only LOAD_LOCK_WAIT_S once
        # its flag is up) would find the file never free. Queued requests wait here, before
        # the load flag check, so a load goes ahead of all of them.
        if not self._holders.acquire(timeout=self.timeout_s):
            raise DatabaseLocked(
                f"the dashboard is busy: {self.timeout_s:.0f} s without a free reader slot; "
                "try again, or give the dashboard a longer lock timeout",
                path=self.db_path,
            )
        try:
            with super().desk() as desk:
                yield desk
        finally:
            self._holders.release()

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = open_read_only(self.db_path, timeout_s=self.timeout_s)
        self.watch.add(con)
        return con

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        self.watch.discard(con)  # before the close: the watch never touches a closed one
        con.close()
