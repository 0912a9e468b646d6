"""Opening the DuckDB file for reading, running parameterised SQL into Arrow, time arguments.

Where it sits: under ``nsechain.query`` (the Desk) and ``cli/desk.py``. DuckDB lets one
process write a file and, while it does, no other process may open it even read-only
(DESIGN.md §6): the collector's batch thread holds it for a few seconds per load, so readers
here retry on the lock error for a while before raising ``DatabaseLocked`` (the store's one
door, ``store.db.open_db``, with its one lock rule and retry policy).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from nsechain.store.db import open_db
from nsechain.timeutil import IST

__all__ = ["When", "as_instant", "open_read_only", "run"]

When = datetime | date | str
_IST_NAME = "Asia/Kolkata"
#: What a reader blocked by the lock should know, added to ``DatabaseLocked``'s message.
_READER_HINT = (
    " Usually that is the collector's batch load, which holds it for a few seconds. Inside the"
    " collector's own process, pass a cursor of its connection instead of the path."
)


def open_read_only(
    path: str | os.PathLike[str], *, timeout_s: float = 30.0
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only through the store's one door, retrying while it is locked."""
    con = open_db(Path(path), read_only=True, lock_timeout_s=timeout_s, hint=_READER_HINT)
    # Our own session: show times in IST (CSV exports too); Arrow results are IST anyway.
    con.execute(f"SET TimeZone = '{_IST_NAME}'")
    return con


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
