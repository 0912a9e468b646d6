"""The scheduled half of compaction: each closed day's quotes rewritten sorted, in place.

Where it sits: in ``store/``, beside ``store.compact`` (the full rewrite, ``nsechain compact``).
The collector's batch thread calls ``sort_next_day`` between loads while the market is closed
(``collector.batch``), through the loader's door and flag, so no load runs meanwhile and
readers in other processes give way as they do for a load.

Why in place and one day at a time: the full rewrite copies the whole file, so its cost grows
with the history (and it needs the file's size again in free disk); sorting one closed day
costs the same on day 1 and day 500. The loader appends rows in tick order (every symbol in
every row group), so a scan of one symbol over past days reads every row group; sorted
snapshot-major (``compact.SORT``), zone maps skip the other symbols, and the day's columns
compress a little better (measured on 3 synthetic days of 3.15M rows: used blocks -4.6 %;
contract-major order was worse, +11 %). The old rows' blocks become free blocks that the next
loads reuse; ``nsechain compact`` gives free blocks back to the file system.

Exactly once: one transaction copies the day's rows sorted (``INSERT … SELECT … ORDER BY``),
deletes the old copies by row id (the new rows' ids are all above the old maximum) and records
the day in ``sorted_days``; a crash anywhere leaves the day as it was. The row count is checked
before the commit. ``nsechain compact`` records the closed days it sorts there too, so the
scheduled sort goes on after them instead of doing them again.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta

from nsechain.errors import StorageError
from nsechain.store.compact import SORT
from nsechain.store.db import Connection, transaction
from nsechain.store.tables import SORTED_DAYS, ensure_tables
from nsechain.timeutil import IST

__all__ = ["SORTED_DAYS", "closed_unsorted_days", "sort_day", "sort_next_day"]

log = logging.getLogger(__name__)


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), IST)
    return start, start + timedelta(days=1)


def closed_unsorted_days(con: Connection, today: date) -> list[date]:
    """Days before ``today`` (IST) with loaded snapshots, after the last sorted day, oldest
    first. With no day sorted yet, only the latest closed day: older history is for
    ``nsechain compact`` (sorting a year one day per batch would hold the file for hours).
    Reads ``loaded_snapshots`` from the last sorted day on (appended in time order: zone maps
    skip the rest)."""
    ensure_tables(con)
    (last,) = con.execute(f"SELECT max(day) FROM {SORTED_DAYS}").fetchall()[0]
    start = _bounds(last)[1] if last is not None else _bounds(today)[0] - timedelta(days=7)
    end = _bounds(today)[0]
    found = con.execute(
        "SELECT DISTINCT CAST(timezone('Asia/Kolkata', exchange_ts) AS DATE) AS day"
        " FROM loaded_snapshots WHERE exchange_ts >= ? AND exchange_ts < ? ORDER BY day",
        [start, end],
    ).fetchall()
    days = [row[0] for row in found]
    return days if last is not None else days[-1:]


def sort_day(con: Connection, day: date) -> int:
    """Rewrite ``day``'s quote rows sorted (``compact.SORT``) in one transaction, and record
    it in ``sorted_days``; returns the rows rewritten."""
    ensure_tables(con)
    lo, hi = _bounds(day)
    where = "exchange_ts >= $lo AND exchange_ts < $hi"
    bounds = {"lo": lo, "hi": hi}
    con.execute("SET preserve_insertion_order = true")  # the sort must stick
    with transaction(con):
        (top,) = con.execute("SELECT coalesce(max(rowid), -1) FROM option_quotes").fetchall()[0]
        (before,) = con.execute(
            f"SELECT count(*) FROM option_quotes WHERE {where}", bounds
        ).fetchall()[0]
        con.execute(
            f"INSERT INTO option_quotes SELECT * FROM option_quotes WHERE {where} ORDER BY {SORT}",
            bounds,
        )
        con.execute(
            f"DELETE FROM option_quotes WHERE {where} AND rowid <= $top", bounds | {"top": top}
        )
        (after,) = con.execute(
            f"SELECT count(*) FROM option_quotes WHERE {where}", bounds
        ).fetchall()[0]
        if after != before:  # never commit a day that lost or doubled rows
            msg = f"sorting {day} would change its rows ({before} -> {after}); rolled back"
            raise StorageError(msg)
        con.execute(
            f"INSERT OR REPLACE INTO {SORTED_DAYS} VALUES (?, ?, now())", [day, int(before)]
        )
    return int(before)


def sort_next_day(con: Connection, today: date) -> tuple[date, int] | None:
    """Sort the oldest closed, unsorted day (one per call: a call holds the file for about
    one load's time per million rows); None when there is none."""
    days = closed_unsorted_days(con, today)
    if not days:
        return None
    started = time.perf_counter()
    rows = sort_day(con, days[0])
    con.execute("CHECKPOINT")  # the old rows' blocks become free for the next loads
    log.info(
        "day sorted day=%s rows=%d s=%.1f left=%d",
        days[0],
        rows,
        time.perf_counter() - started,
        len(days) - 1,
    )
    return days[0], rows
