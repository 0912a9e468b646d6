"""The analysis desk: questions about recorded option chains, answered as Arrow tables.

Where it sits: the Python API over the DuckDB file the collector loads (``option_quotes``,
``fetch_log``). Notebooks call ``nsechain.query.connect(path)``; the in-process dashboard
passes a cursor of the collector's connection instead. The SQL bodies shared with the views
are in ``analytics/sql.py``; greeks and IV in ``analytics/greeks.py``.

Every method returns a ``pyarrow.Table``: ``.to_pandas()`` gives pandas, ``pl.from_arrow(t)``
gives polars. With a lake (``connect(..., lake=settings)``, ``lake.reader``), the days the file
no longer holds are read from the Iceberg lake, with the same answers. Times are returned in
IST; time arguments accept aware or naive (= IST) datetimes, dates and ISO strings. A
path-backed desk (``hold=False``) opens the file read-only and keeps that connection for the
next call only while it is idle less than ``linger_s``, the file unchanged and no loader's flag
up (``analytics.linger``): it never keeps the collector's loader waiting longer than a query;
``hold=True`` keeps one connection until ``close()``.

Usage::

    from nsechain.query import connect
    desk = connect("options_chain_data.duckdb")
    desk.chain("NIFTY")                      # nearest live expiry, latest snapshot
    desk.pcr("NIFTY", start="2026-08-11")    # all expiries, one row per minute
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from nsechain.analytics import queries, trader
from nsechain.analytics.db import When, as_instant, open_read_only, run
from nsechain.analytics.desk_types import Snapshot
from nsechain.analytics.greeks import DEFAULT_RATE, chain_greeks
from nsechain.analytics.linger import DEFAULT_LINGER_S, LingeringConnection
from nsechain.analytics.smile import smile_table
from nsechain.analytics.sql import (
    BUILDUP_SQL,
    CHAIN_WIDE_SQL,
    MAX_PAIN_SQL,
    PCR_ALL_EXPIRIES_FROM_TOTALS_SQL,
    PCR_ALL_EXPIRIES_SQL,
    PCR_FROM_TOTALS_SQL,
    PCR_SQL,
    compose,
)

if TYPE_CHECKING:
    from nsechain.config import Settings
    from nsechain.lake.reader import LakeReader, Scope

__all__ = ["Desk", "Snapshot", "connect"]

Source = str | os.PathLike[str] | duckdb.DuckDBPyConnection

#: (source, body) of ``Desk.pcr`` by (one expiry?, stored totals usable?).
_PCR: dict[tuple[bool, bool], tuple[str, str]] = {
    (False, False): (queries.SYMBOL, PCR_ALL_EXPIRIES_SQL),
    (True, False): (queries.SYMBOL_EXPIRY, PCR_SQL),
    (False, True): (queries.SYMBOL_TOTALS, PCR_ALL_EXPIRIES_FROM_TOTALS_SQL),
    (True, True): (queries.SYMBOL_EXPIRY_TOTALS, PCR_FROM_TOTALS_SQL),
}


def connect(
    db: Source | None = None,
    *,
    timeout_s: float = 30.0,
    hold: bool = False,
    linger_s: float = DEFAULT_LINGER_S,
    lake: Settings | LakeReader | None = None,
) -> Desk:
    """A Desk on a DuckDB file (default: the configured ``db_path``) or on an open
    connection/cursor. Checks at once that the file opens, retrying up to ``timeout_s`` while
    another process holds its lock, then raises ``DatabaseLocked``. ``linger_s``: how long an
    idle connection stays open for the next call (0: closed after each).

    ``lake``: settings with a lake catalog (or a ``lake.reader.LakeReader``) make the days the
    local file no longer holds come from the Iceberg lake. Without ``db``, the configured
    settings give both the file and the lake (when ``lake_catalog_url`` is set)."""
    if db is None:
        from nsechain.config import load_settings

        settings = load_settings()
        db, lake = settings.db_path, lake or settings
    if lake is not None:
        from nsechain.config import Settings

        if isinstance(lake, Settings):
            from nsechain.lake.reader import reader_for  # only here: the lake is an optional extra

            lake = reader_for(lake)
    return Desk(db, timeout_s=timeout_s, hold=hold, linger_s=linger_s, lake=lake)


def _scope(
    symbols: list[str] | None = None,
    start: When | None = None,
    end: When | None = None,
    table: str | None = "option_quotes",
) -> Scope:
    """What a call reads, for the lake's plan: symbols, range, and the one table (None: all)."""
    from nsechain.lake.reader import Scope

    names = None if symbols is None else tuple(symbols)
    scope = Scope(names, as_instant(start), as_instant(end, end=True))
    return scope if table is None else replace(scope, tables=(table,))


class Desk:
    """Read-only questions about the recorded data. ``expiry=None`` means the nearest expiry
    still live at ``at``; ``at=None`` means the latest snapshot. A snapshot that does not
    exist raises ``LookupError``; an empty range gives an empty table."""

    def __init__(
        self,
        source: Source,
        *,
        timeout_s: float = 30.0,
        hold: bool = False,
        linger_s: float = DEFAULT_LINGER_S,
        lake: LakeReader | None = None,
    ) -> None:
        self._lake = lake  # days the local file no longer holds come from it
        self._conn: duckdb.DuckDBPyConnection | None
        self._linger: LingeringConnection | None = None
        if isinstance(source, duckdb.DuckDBPyConnection):
            self._conn, self._owned = source, False
            return
        path = os.fspath(source)
        if hold:
            self._conn, self._owned = open_read_only(path, timeout_s=timeout_s), True
            return
        self._conn, self._owned = None, False
        self._linger = LingeringConnection(path, timeout_s=timeout_s, linger_s=linger_s)
        with self._linger.session():  # fail early, clearly
            pass

    @property
    def opens(self) -> int:
        """How many times this desk opened the file between calls (0 unless lingering)."""
        return 0 if self._linger is None else self._linger.opens

    def close(self) -> None:
        if self._owned and self._conn is not None:
            self._conn.close()
        if self._linger is not None:
            self._linger.close()
            self._linger = None
        self._conn = None
        if self._lake is not None:
            self._lake.close()
            self._lake = None

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self, scope: Scope | None = None) -> Iterator[Any]:
        """A connection; with a lake, its ``option_quotes``/``fetch_log`` also hold the lake's
        days that the file does not (planned for ``scope``: the symbols and range asked)."""
        if self._conn is not None:
            self._attach(self._conn, scope)
            yield self._conn
            return
        if self._linger is None:
            raise ValueError("this Desk is closed")
        with self._linger.session() as con:
            self._attach(con, scope)
            yield con

    def _attach(self, con: Any, scope: Scope | None) -> None:
        if self._lake is not None:
            self._lake.attach(con, scope or _scope(table=None))

    # --- plain SQL -------------------------------------------------------------------------
    def sql(self, query: str, params: dict[str, Any] | None = None) -> pa.Table:
        """Any SELECT, with ``$name`` parameters; for what the methods below do not cover."""
        with self._session() as con:
            return run(con, query, params)

    # --- which snapshot --------------------------------------------------------------------
    def snapshot(self, symbol: str, expiry: date | None = None, at: When | None = None) -> Snapshot:
        """The snapshot ``chain`` would show: the latest at or before ``at`` of ``expiry``, or
        of the nearest expiry still live on the day of the symbol's latest data (until ``at``).
        """
        with self._session(_scope([_symbol(symbol)], end=at)) as con:
            return self._snapshot(con, symbol, expiry, at)

    def _snapshot(self, con: Any, symbol: str, expiry: date | None, at: When | None) -> Snapshot:
        sym, moment = _symbol(symbol), as_instant(at)
        params: dict[str, Any] = {"symbol": sym}
        if expiry is not None:
            params["expiry"] = expiry
        if moment is not None:
            params["at"] = moment
        for table in _snapshot_tables(con, latest=moment is None):
            sql = queries.snapshot_sql(table, expiry=expiry is not None, until=moment is not None)
            found = run(con, sql, params).to_pylist()
            if found:
                return Snapshot(sym, found[0]["expiry"], found[0]["exchange_ts"])
        what = sym if expiry is None else f"{sym} {expiry}"
        when = "" if moment is None else f" at or before {moment:%Y-%m-%d %H:%M:%S}"
        raise LookupError(f"{what}: no snapshot{when}")

    def _previous(self, con: Any, snap: Snapshot, back: int) -> datetime | None:
        """The exchange_ts ``back`` snapshots before ``snap`` (1 = the one just before)."""
        params = snap._asdict() | {"back": max(back, 1) - 1}
        for table in _snapshot_tables(con):
            found = run(con, queries.previous_snapshot_sql(table), params)
            if found.num_rows:
                value: datetime = found.column(0)[0].as_py()
                return value
        return None

    def _on_snapshot(
        self, body: str, symbol: str, expiry: date | None, at: When | None
    ) -> pa.Table:
        with self._session(_scope([_symbol(symbol)], end=at)) as con:
            snap = self._snapshot(con, symbol, expiry, at)
            return run(con, compose(queries.ONE_SNAPSHOT, body), snap._asdict())

    # --- chains ----------------------------------------------------------------------------
    def chain(self, symbol: str, expiry: date | None = None, at: When | None = None) -> pa.Table:
        """The wide chain of one snapshot, like NSE's page: CE columns | strike | PE columns
        (columns: ``analytics.sql.WIDE_COLUMNS``), one row per strike, ascending."""
        return self._on_snapshot(CHAIN_WIDE_SQL, symbol, expiry, at)

    def quotes(self, symbol: str, expiry: date | None = None, at: When | None = None) -> pa.Table:
        """The long rows (``option_quotes`` columns) of one snapshot."""
        return self._on_snapshot(queries.SNAPSHOT_ROWS, symbol, expiry, at)

    def history(
        self,
        symbol: str,
        expiry: date,
        strike: float,
        option_type: str,
        start: When | None = None,
        end: When | None = None,
    ) -> pa.Table:
        """Every recorded row of one contract between ``start`` and ``end`` (inclusive)."""
        side = option_type.strip().upper()
        if side not in ("CE", "PE"):
            raise ValueError(f"option_type must be CE or PE, not {option_type!r}")
        params = {"symbol": _symbol(symbol), "expiry": expiry, "strike": float(strike)}
        params["option_type"] = side
        source = queries.source(queries.CONTRACT, params, start, end)
        with self._session(_scope([_symbol(symbol)], start, end)) as con:
            return run(con, compose(source.sql, queries.SNAPSHOT_ROWS), source.params)

    # --- ratios and levels -----------------------------------------------------------------
    def pcr(
        self,
        symbol: str,
        expiry: date | None = None,
        start: When | None = None,
        end: When | None = None,
    ) -> pa.Table:
        """OI and volume put-call ratios. With ``expiry``: one row per snapshot of it. Without:
        all expiries combined, one row per minute (each expiry at its latest snapshot of the
        day so far; ``expiries`` says how many were summed).

        Reads the per-snapshot totals the loader stores in ``loaded_snapshots`` when they cover
        every quote row of ``[start, end]`` (``queries.totals_cover_sql``), else sums
        ``option_quotes``; both give the same table."""
        params: dict[str, Any] = {"symbol": _symbol(symbol)}
        if expiry is not None:
            params["expiry"] = expiry
        with self._session(_scope([_symbol(symbol)], start, end)) as con:
            where, body = _PCR[expiry is not None, _totals_cover(con, start, end)]
            source = queries.source(where, params, start, end)
            return run(con, compose(source.sql, body), source.params)

    def max_pain(self, symbol: str, expiry: date | None = None, at: When | None = None) -> pa.Table:
        """Max pain of one snapshot: one row with ``max_pain``, ``total_pain``, ``strikes``."""
        return self._on_snapshot(MAX_PAIN_SQL, symbol, expiry, at)

    def max_pain_series(
        self, symbol: str, expiry: date, start: When | None = None, end: When | None = None
    ) -> pa.Table:
        """Max pain of every snapshot of one expiry in ``[start, end]`` (e.g. a whole day)."""
        params = {"symbol": _symbol(symbol), "expiry": expiry}
        source = queries.source(queries.SYMBOL_EXPIRY, params, start, end)
        with self._session(_scope([_symbol(symbol)], start, end)) as con:
            return run(con, compose(source.sql, MAX_PAIN_SQL), source.params)

    def support_resistance(
        self, symbol: str, expiry: date | None = None, n: int = 3, at: When | None = None
    ) -> pa.Table:
        """The ``n`` highest-OI strikes of each side: PE = support, CE = resistance."""
        with self._session(_scope([_symbol(symbol)], end=at)) as con:
            snap = self._snapshot(con, symbol, expiry, at)
            sql = compose(queries.ONE_SNAPSHOT, queries.TOP_OI)
            return run(con, sql, snap._asdict() | {"n": int(n)})

    def atm(self, symbol: str, expiry: date | None = None, at: When | None = None) -> pa.Table:
        """ATM strike (nearest the spot with both legs), straddle premium (CE + PE last
        price) and ATM IV (mean of NSE's CE and PE IV there, percent)."""
        return self._on_snapshot(queries.ATM, symbol, expiry, at)

    def oi_buildup(
        self,
        symbol: str,
        expiry: date | None = None,
        window: timedelta | int = timedelta(minutes=15),
        at: When | None = None,
    ) -> pa.Table:
        """Build-up class of each contract between the latest snapshot (at ``at``) and the one
        ``window`` earlier (a timedelta, or a count of snapshots). Empty if there is none."""
        with self._session(_scope([_symbol(symbol)], end=at)) as con:
            snap = self._snapshot(con, symbol, expiry, at)
            base: datetime | None
            if isinstance(window, timedelta):
                try:
                    earlier = snap.exchange_ts - window
                    base = self._snapshot(con, snap.symbol, snap.expiry, earlier).exchange_ts
                except LookupError:
                    base = None
            else:
                base = self._previous(con, snap, int(window))
            # No baseline: pair the snapshot with itself, which yields no rows.
            pair = snap._asdict() | {"from_ts": base or snap.exchange_ts}
            return run(con, compose(queries.TWO_SNAPSHOTS, BUILDUP_SQL), pair)

    # --- volatility ------------------------------------------------------------------------
    def greeks(
        self,
        symbol: str,
        expiry: date | None = None,
        at: When | None = None,
        rate: float = DEFAULT_RATE,
    ) -> pa.Table:
        """Forward, model IV vs NSE IV, and Black-76 greeks of every contract of a snapshot."""
        return chain_greeks(self.quotes(symbol, expiry, at), rate=rate)

    def iv_smile(
        self,
        symbol: str,
        expiry: date | None = None,
        at: When | None = None,
        rate: float = DEFAULT_RATE,
    ) -> pa.Table:
        """Per strike: log-moneyness ln(K/F), NSE and model IV of both sides, and
        ``smile_iv`` (the out-of-the-money side's model IV)."""
        return smile_table(self.greeks(symbol, expiry, at, rate))

    # --- the trader's desk: analytics/trader.py's functions, bound as methods ------------------
    # Each takes the Desk first (typed as analytics.desk_types.DeskReader), so the function is
    # the method: one signature and one docstring, in the module that does the work.
    chain_greeks = trader.chain_with_greeks
    oi_window = trader.oi_window
    strike_day = trader.strike_day
    term_structure = trader.term_structure
    surface = trader.surface
    iv_rank = trader.iv_rank
    straddle = trader.straddle
    gex = trader.gex
    pcr_steady = trader.steady_pcr

    # --- export ----------------------------------------------------------------------------
    def export(
        self,
        out: str | os.PathLike[str],
        *,
        start: When | None = None,
        end: When | None = None,
        symbols: list[str] | None = None,
        fmt: str = "parquet",
    ) -> int:
        """Write ``option_quotes`` rows in ``[start, end]`` (of ``symbols``, default all) to
        one Parquet (zstd) or CSV file with DuckDB's COPY; returns the row count."""
        if fmt not in queries.COPY_OPTIONS:
            raise ValueError(f"format must be one of {sorted(queries.COPY_OPTIONS)}, not {fmt!r}")
        base, params = queries.ALL_QUOTES, {}
        if symbols:
            base, params = queries.SOME_SYMBOLS, {"symbols": [_symbol(s) for s in symbols]}
        source = queries.source(base, params, start, end)
        sql = queries.copy_sql(source.sql, fmt)
        names = [_symbol(s) for s in symbols] if symbols else None
        with self._session(_scope(names, start, end)) as con:
            rows = con.execute(sql, source.params | {"out": os.fspath(out)}).fetchall()
        return int(rows[0][0]) if rows else 0

    # --- replay ----------------------------------------------------------------------------
    def replay(
        self, symbol: str | None = None, start: When | None = None, end: When | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Every snapshot in ``[start, end]`` (of ``symbol``, default all) as one Arrow record
        batch, in exchange-time order, with bounded memory (``analytics.replay``)."""
        from nsechain.analytics.replay import replay_batches

        return replay_batches(self._session, symbol, start, end)

    # --- data quality ----------------------------------------------------------------------
    def fetch_quality(self, start: When | None = None, end: When | None = None) -> pa.Table:
        """Per symbol from ``fetch_log``: fetches by outcome, failures, and the largest gap
        between two ok fetches of one expiry within a day (``max_gap_s``, where, which)."""
        source = queries.source(queries.ALL_FETCHES, {}, start, end, column="fetched_at")
        with self._session(_scope(None, start, end, table="fetch_log")) as con:
            return run(con, queries.fetch_quality_sql(source.sql), source.params)


def _symbol(symbol: str) -> str:
    return symbol.strip().upper()


def _totals_cover(con: Any, start: When | None, end: When | None) -> bool:
    """Whether ``loaded_snapshots`` has totals for every quote row in ``[start, end]``."""
    has = run(con, queries.HAS_TOTALS).column("n")[0].as_py()
    if has != queries.TOTALS_COLUMNS:
        return False
    bounds = queries.source("", {}, start, end)
    ok = run(con, queries.totals_cover_sql(bounds.sql), bounds.params).column("ok")[0].as_py()
    return bool(ok)


def _snapshot_tables(con: Any, *, latest: bool = False) -> tuple[str, ...]:
    """Where to look snapshots up, best first: with ``latest`` (no ``at``), the loader's
    ``latest_snapshots`` (``queries.LATEST``), then ``loaded_snapshots``
    (``queries.SNAPSHOT_INDEX``). The quotes table stays as the fallback for databases filled
    without the loader (a pair missing from a table is looked up in the next)."""
    have = set(run(con, queries.LISTINGS).column("name").to_pylist())
    order = ((queries.LATEST,) if latest else ()) + (queries.SNAPSHOT_INDEX,)
    return (*(t for t in order if t in have), queries.QUOTES)
