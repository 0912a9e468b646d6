"""The desk on real NSE responses: PCR against NSE's own totals, max pain against brute force."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from conftest import fixture_bytes
from nsechain.analytics.views import create_views
from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA, duckdb_ddl
from nsechain.nse.parse import parse_chain
from nsechain.query import Desk, connect
from nsechain.timeutil import IST

V3_NIFTY = "v3_indices_NIFTY_2026-08-11_112903.json"
LEGACY_NIFTY = "legacy_indices_NIFTY_2025-07-17_1530.json"


def load(path: Path, tables: list[pa.Table]) -> Path:
    con = duckdb.connect(str(path))
    con.execute(duckdb_ddl("option_quotes", QUOTES_SCHEMA))
    for table in tables:
        con.register("new_rows", table)
        con.execute("INSERT INTO option_quotes SELECT * FROM new_rows")
        con.unregister("new_rows")
    create_views(con)
    con.close()
    return path


def parsed(name: str, symbol: str) -> pa.Table:
    fetched = datetime(2026, 8, 11, 11, 29, 5, tzinfo=IST)
    return parse_chain(fixture_bytes(name), symbol=symbol, fetched_at=fetched).table


def brute_force_max_pain(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Try every strike as the settlement price; the obvious O(n^2) loop."""
    ce = {r["strike"]: r["open_interest"] or 0.0 for r in rows if r["option_type"] == "CE"}
    pe = {r["strike"]: r["open_interest"] or 0.0 for r in rows if r["option_type"] == "PE"}
    strikes = sorted(set(ce) | set(pe))
    best: tuple[float, float] | None = None
    for s in strikes:
        pain = sum(oi * max(s - k, 0) for k, oi in ce.items())
        pain += sum(oi * max(k - s, 0) for k, oi in pe.items())
        if best is None or pain < best[1]:
            best = (s, pain)
    assert best is not None
    return best


@pytest.fixture
def nifty(tmp_path: Path) -> Desk:
    return connect(load(tmp_path / "nifty.duckdb", [parsed(V3_NIFTY, "NIFTY")]))


def test_pcr_equals_nse_filtered_totals(nifty: Desk) -> None:
    doc = orjson.loads(fixture_bytes(V3_NIFTY))["filtered"]
    row = nifty.pcr("NIFTY", nifty.snapshot("NIFTY").expiry).to_pylist()[0]
    assert (row["ce_oi"], row["pe_oi"]) == (doc["CE"]["totOI"], doc["PE"]["totOI"])
    assert row["pcr_oi"] == pytest.approx(doc["PE"]["totOI"] / doc["CE"]["totOI"], rel=1e-12)
    assert row["pcr_volume"] == pytest.approx(doc["PE"]["totVol"] / doc["CE"]["totVol"], rel=1e-12)
    every = nifty.pcr("NIFTY").to_pylist()  # one expiry recorded: the all-expiry sum is the same
    assert every[0]["pcr_oi"] == pytest.approx(row["pcr_oi"], rel=1e-12)


def test_max_pain_matches_brute_force(nifty: Desk) -> None:
    got = nifty.max_pain("NIFTY").to_pylist()[0]
    strike, pain = brute_force_max_pain(nifty.quotes("NIFTY").to_pylist())
    assert got["max_pain"] == strike
    assert got["total_pain"] == pytest.approx(pain, rel=1e-12)


def test_max_pain_of_every_expiry_of_a_legacy_capture(tmp_path: Path) -> None:
    # The legacy endpoint returned all 18 expiries in one body: 18 snapshots, one per expiry.
    table = parsed(LEGACY_NIFTY, "NIFTY")
    con = duckdb.connect(str(load(tmp_path / "legacy.duckdb", [table])), read_only=True)
    try:
        view = con.sql("SELECT expiry, max_pain, total_pain FROM max_pain").fetchall()
    finally:
        con.close()
    rows = table.to_pylist()
    assert len(view) == len({r["expiry"] for r in rows}) > 10
    for expiry, strike, pain in view:
        want = brute_force_max_pain([r for r in rows if r["expiry"] == expiry])
        assert (strike, pain) == (want[0], pytest.approx(want[1], rel=1e-12)), expiry


def test_through_the_real_writer_and_loader(tmp_path: Path) -> None:
    # parse -> tick file -> Loader -> desk, as in production; loaded_snapshots is the index.
    from nsechain.store.files import write_tick
    from nsechain.store.loader import Loader

    table = parsed(V3_NIFTY, "NIFTY")
    empty_log = pa.Table.from_pylist([], schema=FETCH_LOG_SCHEMA)
    tick_at = datetime(2026, 8, 11, 11, 29, tzinfo=IST)
    write_tick(tmp_path / "pending", tick_at, table, empty_log)
    db = tmp_path / "loaded.duckdb"
    dirs = (tmp_path / "pending", tmp_path / "processed", tmp_path / "quarantine")
    assert Loader(db, *dirs).load_pending().quote_rows == table.num_rows
    desk = connect(db)
    doc = orjson.loads(fixture_bytes(V3_NIFTY))["filtered"]
    ratio = desk.pcr("NIFTY", desk.snapshot("NIFTY").expiry).column("pcr_oi")[0].as_py()
    assert ratio == pytest.approx(doc["PE"]["totOI"] / doc["CE"]["totOI"], rel=1e-12)
    assert desk.chain("NIFTY").num_rows == 113
