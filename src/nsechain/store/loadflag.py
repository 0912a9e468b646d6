"""The loader's right of way over readers in other processes: a "load wanted" flag file.

Where it sits: beside the one DuckDB door (``store.db.open_db``). DuckDB lets one process hold
the file; a standalone dashboard or notebook that reads all the time can keep the collector's
batch loader out for minutes (issue 14 saw six refused loads in a row under 20 API clients).
So the loader raises a flag before it opens the file — ``<db>.load-wanted`` holding its PID —
and removes it after the load; every read-only open first waits (up to its own lock timeout)
while a live process's flag is up. Reads in progress finish (tens of ms); new ones queue behind
the load; the loader's own short retry then gets the file.

The flag is advisory and self-healing: a flag whose PID is not alive (a loader killed mid-load)
is ignored, so a crash never blocks readers. Readers inside the collector's process share its
database instance and do not wait (they never use the read-only door).

A read already running does not see the flag by itself, and on a busy machine a dashboard
query can take seconds, longer than the loader waits for the file. So a long-lived reader
registers its open connections with a ``LoadWatch``: while a live loader's flag is up, the
watch interrupts their queries (DuckDB's ``interrupt``; harmless on an idle connection), the
reader closes the file and asks again behind the load.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = ["LoadWatch", "flag_path", "load_is_wanted", "load_wanted", "wait_while_wanted"]

_SUFFIX = ".load-wanted"
_POLL_S = 0.02


def flag_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + _SUFFIX)


@contextlib.contextmanager
def load_wanted(db_path: Path) -> Iterator[None]:
    """Raise the flag for the duration of a load (best effort: a read-only folder skips it)."""
    flag: Path | None = flag_path(db_path)
    try:
        flag_path(db_path).write_text(str(os.getpid()))
    except OSError:
        flag = None
    try:
        yield
    finally:
        if flag is not None:
            with contextlib.suppress(OSError):
                flag.unlink()


def _holder_alive(flag: Path) -> bool:
    try:
        pid = int(flag.read_text().strip() or "0")
    except (OSError, ValueError):
        return False  # gone meanwhile, or half written: no flag
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def load_is_wanted(db_path: Path) -> bool:
    """A live loader's flag is up for ``db_path``."""
    flag = flag_path(db_path)
    return flag.exists() and _holder_alive(flag)


def wait_while_wanted(db_path: Path, deadline: float) -> float:
    """Wait while a live loader wants ``db_path``, until ``deadline`` (monotonic) at most.

    Returns the seconds waited (0.0 when no flag was up).
    """
    flag = flag_path(db_path)
    started = time.monotonic()
    while flag.exists() and time.monotonic() < deadline and _holder_alive(flag):
        time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
    return time.monotonic() - started


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class LoadWatch:
    """Interrupts the registered connections' queries while a loader wants ``db_path``.

    One daemon thread, alive only while a connection is registered, looks at the flag every
    ``poll_s``. Interrupts happen under the watch's lock and ``discard`` takes it, so a
    connection is never interrupted after its owner took it back (and closed it).
    """

    def __init__(self, db_path: Path, poll_s: float = _POLL_S) -> None:
        self.db_path = db_path
        self.poll_s = poll_s
        self.interrupts = 0  #: queries (or idle connections) interrupted for a load
        self._cons: set[Interruptible] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, con: Interruptible) -> None:
        with self._lock:
            self._cons.add(con)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="nsechain-load-watch", daemon=True
                )
                self._thread.start()

    def discard(self, con: Interruptible) -> None:
        with self._lock:
            self._cons.discard(con)

    def _run(self) -> None:
        while True:
            time.sleep(self.poll_s)
            wanted = load_is_wanted(self.db_path)
            with self._lock:
                if not self._cons:
                    self._thread = None  # the next add starts another
                    return
                if wanted:
                    for con in self._cons:
                        with contextlib.suppress(Exception):  # closed meanwhile elsewhere
                            con.interrupt()
                    self.interrupts += len(self._cons)
