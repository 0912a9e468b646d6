"""PCR from the per-snapshot totals in ``loaded_snapshots`` equals PCR summed from the quotes.

The loader stores each snapshot's CE/PE open interest and volume (``store.files.snapshots_of``
at write time); ``Desk.pcr`` and the ``pcr`` view read them instead of summing quote rows when
they cover the data. Both forms are compared here, table for table, on a database the real
collector filled from the simulator and on the benchmark generator's synthetic day; and the
Desk is shown to fall back to the quotes whenever the totals do not stand for every row.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from conftest import SimTime, e2e_settings
from nsechain import OptionsThreadedManager
from nsechain.analytics import queries
from nsechain.analytics.sql import PCR_ALL_EXPIRIES_SQL, PCR_SQL, compose
from nsechain.query import Desk, _totals_cover, connect
from nsechain.sim.server import SimConfig, Simulator

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_analytics.py"

# What option_quotes says each snapshot's totals are, computed independently of both paths.
TOTALS_FROM_QUOTES = """
SELECT symbol, expiry, exchange_ts, count(*) AS rows,
       max(underlying_value) AS underlying_value,
       coalesce(sum(open_interest) FILTER (WHERE option_type = 'CE'), 0) AS ce_oi,
       coalesce(sum(open_interest) FILTER (WHERE option_type = 'PE'), 0) AS pe_oi,
       coalesce(sum(volume) FILTER (WHERE option_type = 'CE'), 0)::BIGINT AS ce_volume,
       coalesce(sum(volume) FILTER (WHERE option_type = 'PE'), 0)::BIGINT AS pe_volume
FROM option_quotes GROUP BY ALL ORDER BY ALL
"""
STORED_TOTALS = """
SELECT symbol, expiry, exchange_ts, rows, underlying_value, ce_oi, pe_oi, ce_volume, pe_volume
FROM loaded_snapshots ORDER BY ALL
"""


def slow_pcr(desk: Desk, symbol: str, expiry: date | None = None) -> pa.Table:
    """``Desk.pcr`` as it is without stored totals: the bodies over option_quotes rows."""
    if expiry is None:
        return desk.sql(compose(queries.SYMBOL, PCR_ALL_EXPIRIES_SQL), {"symbol": symbol})
    params = {"symbol": symbol, "expiry": expiry}
    return desk.sql(compose(queries.SYMBOL_EXPIRY, PCR_SQL), params)


def uses_totals(desk: Desk) -> bool:
    """Whether ``Desk.pcr`` over the whole table reads the stored totals."""
    with desk._session() as con:
        return _totals_cover(con, None, None)


def view_from_quotes(db: Path) -> tuple[pa.Table, pa.Table]:
    """(the pcr view, the same body over all of option_quotes), sorted alike."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        view = con.sql("SELECT * FROM pcr").to_arrow_table()
        plain = con.sql(compose("SELECT * FROM option_quotes", PCR_SQL)).to_arrow_table()
    finally:
        con.close()
    return view, plain


def assert_same_everywhere(db: Path) -> None:
    """Stored totals = quote sums; Desk.pcr (totals) = Desk.pcr (quotes); view = quotes."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.sql(STORED_TOTALS).to_arrow_table()
        summed = con.sql(TOTALS_FROM_QUOTES).to_arrow_table()
        pairs = con.sql("SELECT DISTINCT symbol, expiry FROM option_quotes ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert stored.num_rows > 0
    assert stored.equals(summed.cast(stored.schema))
    desk = connect(db)
    assert uses_totals(desk)
    for symbol in sorted({s for s, _ in pairs}):
        fast, slow = desk.pcr(symbol), slow_pcr(desk, symbol)
        assert fast.num_rows > 0 and fast.equals(slow), symbol
    for symbol, expiry in pairs:
        assert desk.pcr(symbol, expiry).equals(slow_pcr(desk, symbol, expiry)), (symbol, expiry)
    view, plain = view_from_quotes(db)
    assert view.num_rows == len(stored) and view.equals(plain)


# --- a database the real collector filled ------------------------------------------------------


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Four one-minute ticks of the simulator (NIFTY, RELIANCE, M&M; 2 expiries each), each
    written as a tick file and loaded by the real Loader."""
    tmp = tmp_path_factory.mktemp("collected")
    start = datetime.fromisoformat("2026-11-25T09:20:00+05:30")
    with Simulator(SimConfig(seed=3, speed=0, start=start)) as sim:
        settings = e2e_settings(tmp, sim.base_url)
        for minute in range(4):
            sim.set_clock(start=start + timedelta(minutes=minute))
            tick, loaded = OptionsThreadedManager(settings, clock=SimTime(sim)).run_once()
            assert tick.quote_rows > 0 and loaded is not None
    yield settings.db_path


def test_collector_database_pcr_from_totals_equals_pcr_from_quotes(collected: Path) -> None:
    assert_same_everywhere(collected)


def test_pcr_range_bounds_apply_to_totals_too(collected: Path) -> None:
    desk = connect(collected)
    ts = desk.sql("SELECT DISTINCT exchange_ts FROM option_quotes ORDER BY 1").column(0)
    lo, hi = ts[1].as_py(), ts[len(ts) - 2].as_py()
    expiry = desk.snapshot("NIFTY").expiry
    with desk._session() as con:
        assert _totals_cover(con, lo, hi)
    for got, want in (
        (desk.pcr("NIFTY", start=lo, end=hi), ("NIFTY", None)),
        (desk.pcr("NIFTY", expiry, start=lo, end=hi), ("NIFTY", expiry)),
    ):
        base = queries.SYMBOL if want[1] is None else queries.SYMBOL_EXPIRY
        body = PCR_ALL_EXPIRIES_SQL if want[1] is None else PCR_SQL
        params: dict[str, Any] = {"symbol": "NIFTY"} | (
            {} if want[1] is None else {"expiry": expiry}
        )
        source = queries.source(base, params, lo, hi)
        assert got.num_rows > 0 and got.equals(desk.sql(compose(source.sql, body), source.params))


# --- the benchmark's generator -------------------------------------------------------------------


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_analytics", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_analytics", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("layout", ["tick", "symbol"])
def test_bench_generator_pcr_from_totals_equals_pcr_from_quotes(
    tmp_path: Path, layout: str
) -> None:
    db = tmp_path / f"bench_{layout}.duckdb"
    rows = bench_module().generate(db, minutes=4, stocks=3, layout=layout)
    assert rows > 0
    assert_same_everywhere(db)


# --- when the totals do not stand for the data, the quotes answer ------------------------------


def copy_db(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    return dest


def test_quotes_inserted_without_the_loader_are_counted(collected: Path, tmp_path: Path) -> None:
    db = copy_db(collected, tmp_path / "extra.duckdb")
    con = duckdb.connect(str(db))
    try:  # a NIFTY snapshot one minute after the last, inserted by hand (not in the index)
        con.execute(
            "INSERT INTO option_quotes SELECT * REPLACE (exchange_ts + INTERVAL 1 MINUTE AS"
            " exchange_ts) FROM option_quotes WHERE symbol = 'NIFTY' AND exchange_ts ="
            " (SELECT max(exchange_ts) FROM option_quotes WHERE symbol = 'NIFTY')"
        )
    finally:
        con.close()
    desk = connect(db)
    assert not uses_totals(desk)
    pcr = desk.pcr("NIFTY")
    assert pcr.equals(slow_pcr(desk, "NIFTY"))
    ends = desk.sql("SELECT max(exchange_ts) FROM option_quotes").column(0)[0].as_py()
    assert pcr.column("exchange_ts")[-1].as_py() == ends.replace(second=0, microsecond=0)


def test_snapshots_without_totals_are_summed_from_quotes(collected: Path, tmp_path: Path) -> None:
    db = copy_db(collected, tmp_path / "unknown.duckdb")
    con = duckdb.connect(str(db))
    try:  # e.g. rows the one-time backfill could not fill
        con.execute(
            "UPDATE loaded_snapshots SET ce_oi = NULL, pe_oi = NULL, ce_volume = NULL,"
            " pe_volume = NULL, underlying_value = NULL WHERE symbol = 'RELIANCE'"
        )
    finally:
        con.close()
    desk = connect(db)
    assert not uses_totals(desk)
    assert desk.pcr("NIFTY").equals(slow_pcr(desk, "NIFTY"))
    view, plain = view_from_quotes(db)
    assert view.equals(plain)  # the view sums the quotes of just those snapshots


def test_database_without_totals_columns_uses_quotes(collected: Path, tmp_path: Path) -> None:
    db = copy_db(collected, tmp_path / "old.duckdb")
    con = duckdb.connect(str(db))
    try:  # loaded_snapshots as an older loader made it
        for column in ("underlying_value", "ce_oi", "pe_oi", "ce_volume", "pe_volume"):
            con.execute(f"ALTER TABLE loaded_snapshots DROP COLUMN {column}")
        from nsechain.analytics.views import create_views

        create_views(con)
    finally:
        con.close()
    desk = connect(db)
    assert not uses_totals(desk)
    assert desk.pcr("NIFTY").equals(slow_pcr(desk, "NIFTY"))
    view, plain = view_from_quotes(db)
    assert view.equals(plain)
