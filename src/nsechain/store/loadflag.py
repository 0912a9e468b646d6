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

One ``FlagWatcher`` thread per flag file per process looks at the flag for every such
listener (the dashboard's ``LoadWatch``, the desk's lingering connection). And a load in the
listeners' own process tells them at once, before it opens the file: DuckDB refuses a
read-write open beside a read-only one in the same process outright, so a lingering desk next
to the collector would otherwise turn each load into a refusal and a retry 15 s later.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = [
    "FlagWatcher",
    "LoadWatch",
    "flag_path",
    "load_is_wanted",
    "load_wanted",
    "wait_while_wanted",
    "watcher_for",
]

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
    _release_local(db_path)
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


class FlagListener(Protocol):
    """Something in this process that holds the file and gives it up for a load."""

    def flag_poll(self, wanted: bool) -> None:
        """Called on the watcher's thread every poll; ``wanted``: a live loader's flag is up."""

    def release_now(self) -> None:
        """This process is raising the flag: let go now if possible (never block)."""


class FlagWatcher:
    """The one thread per flag file per process that looks at the flag for every listener.

    The dashboard's ``LoadWatch`` and the desk's lingering connection both subscribe here
    (``watcher_for``); the daemon thread runs only while someone is subscribed. Listeners are
    called without the watcher's lock held, so they may (un)subscribe under their own locks.
    """

    def __init__(self, db_path: Path, poll_s: float = _POLL_S) -> None:
        self.db_path = db_path
        self.poll_s = poll_s
        self.threads_started = 0  #: for tests: one thread at a time, however many listeners
        self._listeners: dict[int, FlagListener] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: FlagListener) -> None:
        with self._lock:
            self._listeners[id(listener)] = listener
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="nsechain-load-flag", daemon=True
                )
                self.threads_started += 1
                self._thread.start()

    def unsubscribe(self, listener: FlagListener) -> None:
        with self._lock:
            self._listeners.pop(id(listener), None)

    def listeners(self) -> list[FlagListener]:
        with self._lock:
            return list(self._listeners.values())

    @property
    def running(self) -> bool:
        """Whether this watcher's thread is up (it ends a poll after its last listener)."""
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        while True:
            time.sleep(self.poll_s)
            with self._lock:
                if not self._listeners:
                    self._thread = None  # the next subscribe starts another
                    return
            wanted = load_is_wanted(self.db_path)  # one look for every listener
            for listener in self.listeners():
                listener.flag_poll(wanted)


_WATCHERS: dict[Path, FlagWatcher] = {}
_WATCHERS_LOCK = threading.Lock()


def watcher_for(db_path: Path) -> FlagWatcher:
    """This process's watcher of ``db_path``'s flag (one per file, however it is spelled)."""
    key = Path(db_path).resolve()
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(key)
        if watcher is None:
            watcher = _WATCHERS[key] = FlagWatcher(key)
        return watcher


def _release_local(db_path: Path) -> None:
    """Before a load here opens the file read-write, readers of this process let go: DuckDB
    refuses a second configuration of one file in one process, at once, with no lock to wait
    on (a lingering desk beside the collector cost each load a 15 s retry)."""
    key = Path(db_path).resolve()
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(key)
    for listener in watcher.listeners() if watcher is not None else ():
        listener.release_now()


class LoadWatch:
    """Interrupts the registered connections' queries while a loader wants ``db_path``.

    Polled by the process's ``FlagWatcher`` of the file while a connection is registered.
    Interrupts happen under the watch's lock and ``discard`` takes it, so a connection is
    never interrupted after its owner took it back (and closed it).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.interrupts = 0  #: queries (or idle connections) interrupted for a load
        self._cons: set[Interruptible] = set()
        self._lock = threading.Lock()
        self._watcher = watcher_for(db_path)

    def add(self, con: Interruptible) -> None:
        with self._lock:
            self._cons.add(con)
            self._watcher.subscribe(self)

    def discard(self, con: Interruptible) -> None:
        with self._lock:
            self._cons.discard(con)
            if not self._cons:
                self._watcher.unsubscribe(self)

    def flag_poll(self, wanted: bool) -> None:
        if wanted:
            self._interrupt()

    def release_now(self) -> None:
        self._interrupt()  # the readers close and ask again behind the load

    def _interrupt(self) -> None:
        with self._lock:
            for con in self._cons:
                with contextlib.suppress(Exception):  # closed meanwhile elsewhere
                    con.interrupt()
            self.interrupts += len(self._cons)
