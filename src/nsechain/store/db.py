"""The one door to the DuckDB file: ``open_db``, with one lock rule and one retry policy.

Where it sits: the bottom of the store's DuckDB side. The loader (``store.loader``), the desk
(``analytics.db``), the dashboard (``web.reader``) and ``status`` all open the file here.
DuckDB lets one process write a file, and while it does no other process may open it, even
read-only (DESIGN.md §6); so a caller either waits for the lock (retrying) or is told who
holds it. The tables are in ``store.tables``, one batch's transaction in ``store.batch``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store.loadflag import wait_while_wanted

__all__ = ["Connection", "is_lock_error", "open_db", "transaction"]

_LOCK_MARKERS = ("could not set lock", "conflicting lock")
_IN_PROCESS = "open elsewhere in this process"
_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")

Connection = duckdb.DuckDBPyConnection


def is_lock_error(message: str) -> bool:
    """The one lock rule: DuckDB's message says another process holds the file."""
    return any(marker in message.lower() for marker in _LOCK_MARKERS)


def _locked_message(message: str, waited: float, hint: str) -> str:
    if _IN_PROCESS in message:
        return (
            f"open elsewhere in this process with another configuration; gave up after "
            f"{waited:g} s. In the collector's process, pass a cursor of its connection instead "
            f"of the path.{hint} (DuckDB: {message})"
        )
    match = _HOLDER.search(message)
    who = f" (process {match['pid']}, {match['prog']})" if match else ""
    return (
        f"another process holds the database lock{who}; gave up after {waited:g} s: try again "
        f"later, or give it a longer timeout to retry for.{hint} (DuckDB: {message})"
    )


def _connect_once(db_path: Path, read_only: bool) -> Connection | str:
    """A connection, or DuckDB's message while someone else holds the file: another process
    (its lock), or this one with the other mode (read-only beside read-write)."""
    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if is_lock_error(message):
            return message
        if read_only and "does not exist" in message:
            msg = "no such database; run the collector first, or pass the right --db path"
            raise StorageError(msg, path=db_path) from None
        raise StorageError(f"cannot open database: {exc}", path=db_path) from exc
    except duckdb.ConnectionException as exc:
        # This process already has the file open with other settings (the loader has it
        # read-write while a reader here asks read-only, or a lingering desk still has it
        # read-only): over when that connection closes, which a load's flag asks for.
        return f"{_IN_PROCESS}: {exc}"


def open_db(
    db_path: Path, read_only: bool = False, *, lock_timeout_s: float = 0.0, hint: str = ""
) -> Connection:
    """The one door to the DuckDB file, for the loader, the desk, the dashboard and ``status``.

    One retry policy: while another process holds the lock (or this one holds the file in the
    other mode), retry (50 ms doubling to 1 s)
    until ``lock_timeout_s`` has passed, then raise ``DatabaseLocked`` naming the holder (plus
    ``hint``, the caller's advice). Any other trouble is a ``StorageError`` at once.
    """
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        if read_only:  # a reader gives way while the loader wants the file (store.loadflag)
            wait_while_wanted(db_path, deadline)
        con = _connect_once(db_path, read_only)
        if not isinstance(con, str):
            return con
        left = deadline - time.monotonic()
        if left <= 0:
            raise DatabaseLocked(_locked_message(con, lock_timeout_s, hint), path=db_path)
        time.sleep(min(delay, left))
        # The writer (the loader, its flag up) asks often: readers let go within a poll of the
        # flag, and a doubling pause would leave the file idle for up to a second.
        delay = min(delay * 2, 1.0 if read_only else 0.1)


@contextlib.contextmanager
def transaction(con: Connection) -> Iterator[None]:
    """``BEGIN`` … ``COMMIT``; on any exception (a kill's ``KeyboardInterrupt`` too) roll back
    and re-raise. A failed statement may already have ended the transaction: the rollback's
    own error is then ignored."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
