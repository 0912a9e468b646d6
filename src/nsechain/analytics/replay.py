"""Replay: recorded snapshots in exchange-time order, one Arrow record batch per snapshot.

Where it sits: on the reading side, under ``Desk.replay`` (``nsechain.query``) and
``nsechain replay``. A backtest iterates it like a live feed.

Order: ``exchange_ts``, then symbol, expiry; rows within a snapshot by strike, CE before PE.
Memory stays bounded for a whole day (or year): the range is cut into windows of whole
timestamps holding at most ``max_rows`` rows (planned from one ``GROUP BY exchange_ts``), and
each window is one sorted query. Consecutive windows meet exactly at distinct timestamps, so
every row in ``[start, end]`` comes out once. A path-backed desk opens the file per window, so
a long replay never keeps the collector's loader off the lock for long.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import csv as pa_csv

from nsechain.analytics.db import When, as_instant, run
from nsechain.contract import QUOTES_SCHEMA

__all__ = ["FORMATS", "replay_batches", "write_batches"]

#: Rows per window: ~4 full-market minutes (55k rows each), a few hundred MB at most.
MAX_ROWS = 250_000
FORMATS = ("parquet", "csv")

Session = Callable[[], AbstractContextManager[Any]]

_ORDER = "ORDER BY exchange_ts, symbol, expiry, strike, option_type"


def _where(symbol: str | None, start: When | None, end: When | None) -> tuple[str, dict[str, Any]]:
    sql = "WHERE true"
    params: dict[str, Any] = {}
    if symbol:
        sql += " AND symbol = $symbol"
        params["symbol"] = symbol.strip().upper()
    lo, hi = as_instant(start), as_instant(end, end=True)
    if lo is not None:
        sql += " AND exchange_ts >= $start"
        params["start"] = lo
    if hi is not None:
        sql += " AND exchange_ts <= $end"
        params["end"] = hi
    return sql, params


def _windows(counts: pa.Table, max_rows: int) -> list[tuple[datetime, datetime]]:
    """Greedy runs of whole timestamps, each at most ``max_rows`` rows (or one timestamp)."""
    out: list[tuple[datetime, datetime]] = []
    lo = hi = None
    held = 0
    for ts, n in zip(counts["exchange_ts"].to_pylist(), counts["n"].to_pylist(), strict=True):
        if lo is not None and held + n > max_rows:
            out.append((lo, hi))  # type: ignore[arg-type]
            lo, held = None, 0
        lo = ts if lo is None else lo
        hi, held = ts, held + n
    if lo is not None:
        out.append((lo, hi))  # type: ignore[arg-type]
    return out


def _split(table: pa.Table) -> Iterator[pa.RecordBatch]:
    """One record batch per (exchange_ts, symbol, expiry) run of a sorted table."""
    if table.num_rows == 0:
        return
    table = table.combine_chunks()
    ts = table["exchange_ts"].cast(pa.int64()).to_numpy()
    sym = pc.dictionary_encode(table["symbol"]).combine_chunks().indices.to_numpy()
    exp = table["expiry"].cast(pa.int32()).to_numpy()
    change = (ts[1:] != ts[:-1]) | (sym[1:] != sym[:-1]) | (exp[1:] != exp[:-1])
    bounds = [0, *(np.flatnonzero(change) + 1).tolist(), table.num_rows]
    for a, b in itertools.pairwise(bounds):
        yield from table.slice(a, b - a).to_batches()


def replay_batches(
    session: Session,
    symbol: str | None = None,
    start: When | None = None,
    end: When | None = None,
    *,
    max_rows: int = MAX_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Every snapshot in ``[start, end]`` (of ``symbol``, default all) as one record batch,
    in exchange-time order; see the module for the order and the memory bound."""
    where, params = _where(symbol, start, end)
    with session() as con:
        counts = run(
            con,
            f"SELECT exchange_ts, count(*) AS n FROM option_quotes {where} GROUP BY 1 ORDER BY 1",
            params,
        )
    for lo, hi in _windows(counts, max_rows):
        window = {**params, "lo": lo, "hi": hi}
        sql = f"SELECT * FROM option_quotes {where} AND exchange_ts BETWEEN $lo AND $hi {_ORDER}"
        with session() as con:
            table = run(con, sql, window)
        yield from _split(table)


def _open(out: str | os.PathLike[str], fmt: str, schema: pa.Schema) -> Any:
    if fmt == "parquet":
        return pq.ParquetWriter(out, schema, compression="zstd")
    return pa_csv.CSVWriter(out, schema)


def write_batches(batches: Iterator[pa.RecordBatch], out: str | os.PathLike[str], fmt: str) -> int:
    """Stream ``batches`` into one Parquet (zstd) or CSV file; returns the rows written. An
    empty range still gives a valid file (the columns, no rows)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    rows = 0
    writer: Any = None
    try:
        for batch in batches:
            writer = writer or _open(out, fmt, batch.schema)
            writer.write_batch(batch)
            rows += batch.num_rows
        writer = writer or _open(out, fmt, QUOTES_SCHEMA)
    finally:
        if writer is not None:
            writer.close()
    return rows
