"""Opening the DuckDB file for reading, running parameterised SQL into Arrow, time arguments.

Where it sits: under ``nsechain.query`` (the Desk) and ``cli/desk.py``. DuckDB lets one
process write a file and, while it does, no other process may open it even read-only
(DESIGN.md §6): the collector's batch thread holds it for a few seconds per load, so readers
here retry on the lock error for a while before raising ``DatabaseLocked``.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from nsechain.errors import DatabaseLocked, StorageError
from nsechain.timeutil import IST

__all__ = ["When", "as_instant", "open_read_only", "run"]

When = datetime | date | str
_IST_NAME = "Asia/Kolkata"
_LOCK_HINTS = ("Could not set lock", "Conflicting lock")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def _is_lock_error(message: str) -> bool:
    return any(hint in message for hint in _LOCK_HINTS)


def _locked_message(message: str, waited: float) -> str:
    match = _HOLDER.search(message)
    who = f"process {match['pid']} ({match['prog']})" if match else "another process"
    return (
        f"{who} holds the database lock; gave up after {waited:g} s. Usually that is the "
        "collector's batch load, which holds it for a few seconds: try again or pass a "
        "longer timeout. Inside the collector's own process, pass a cursor of its "
        "connection instead of the path."
    )


def _connect(where: Path) -> tuple[duckdb.DuckDBPyConnection | None, str]:
    """One attempt: (connection, ""), or (None, DuckDB's message) while the file is locked."""
    try:
        con = duckdb.connect(str(where), read_only=True)
    except duckdb.IOException as exc:
        message = str(exc)
        if _is_lock_error(message):
            return None, message
        if "does not exist" in message:
            msg = "no such database; run the collector first, or pass the right --db path"
            raise StorageError(msg, path=where) from None
        raise StorageError(message, path=where) from exc
    except duckdb.ConnectionException as exc:
        # This process already has the file open read-write (the collector itself).
        msg = f"{exc}; in the collector's process pass a cursor of its connection"
        raise StorageError(msg, path=where) from None
    # Our own session: show times in IST (CSV exports too); Arrow results are IST anyway.
    con.execute(f"SET TimeZone = '{_IST_NAME}'")
    return con, ""


def open_read_only(
    path: str | os.PathLike[str], *, timeout_s: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only, retrying (backoff 50 ms doubling to 1 s) while it is locked."""
    where = Path(path)
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        con, locked = _connect(where)
        if con is not None:
            return con
        left = deadline - time.monotonic()
        if left <= 0:
            raise DatabaseLocked(_locked_message(locked, timeout_s), path=where)
        time.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)


def _ist(table: pa.Table) -> pa.Table:
    """Show every zoned timestamp in IST (an Arrow metadata change, not a data copy)."""
    fields = [
        f.with_type(pa.timestamp(f.type.unit, tz=_IST_NAME))
        if pa.types.is_timestamp(f.type) and f.type.tz
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def run(con: Any, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run one SELECT with ``$name`` parameters and return it as Arrow, timestamps in IST."""
    return _ist(con.sql(sql, params=params or None).to_arrow_table())


def as_instant(value: When | None, *, end: bool = False) -> datetime | None:
    """A user's time argument as an aware datetime. Naive values are IST. A bare date (or a
    ``YYYY-MM-DD`` string) means the start of that IST day, or its last microsecond when
    ``end`` is true, so ``start=day, end=day`` covers the whole day."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    if not isinstance(value, datetime):
        day = datetime.combine(value, datetime.min.time(), IST)
        return day + timedelta(days=1, microseconds=-1) if end else day
    return value if value.tzinfo is not None else value.replace(tzinfo=IST)
