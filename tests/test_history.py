"""History in and out: import of captures, raw capture and reprocess, replay."""

from __future__ import annotations

import gzip
import itertools
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, e2e_settings, fixture_bytes
from nsechain import OptionsThreadedManager
from nsechain.analytics.replay import replay_batches
from nsechain.cli import app
from nsechain.collector.clock import ScaledClock
from nsechain.collector.manager import make_loader
from nsechain.config import Settings, load_settings
from nsechain.errors import NsechainError
from nsechain.nse import endpoints
from nsechain.nse.captures import symbol_from_name
from nsechain.nse.parse import parse_chain
from nsechain.query import connect
from nsechain.sim.server import SimConfig, Simulator
from nsechain.store.history import import_paths, reprocess_day
from nsechain.store.rawcapture import list_raw_files, read_raw
from nsechain.timeutil import IST
from test_summaries import stored_matches_quotes

NIFTY_2024 = "legacy_indices_NIFTY_2024-10-25_1530.json"
_AT = datetime(2026, 1, 1, tzinfo=IST)


def settings_for(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", db_path=tmp_path / "chain.duckdb")


def run_import(settings: Settings, *paths: Path, symbol: str | None = None) -> Any:
    return import_paths(settings, list(paths), make_loader(settings), symbol=symbol)


def count(db: Path, sql: str = "SELECT count(*) FROM option_quotes") -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def parser_rows(path: Path) -> int | None:
    """Rows the parser alone gets from one fixture, None if it is not a chain."""
    try:
        return parse_chain(path.read_bytes(), symbol="X", fetched_at=_AT).table.num_rows
    except NsechainError:
        return None


def test_every_real_capture_imports_exactly_once(tmp_path: Path) -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"NSE fixtures not found at {FIXTURES} (clone shared/ beside the repo)")
    expected = {p.name: parser_rows(p) for p in sorted(FIXTURES.iterdir()) if p.is_file()}
    chains = {name: n for name, n in expected.items() if n is not None}
    assert len(chains) >= 10  # every legacy, v3 and NextApi chain capture
    settings = settings_for(tmp_path)
    first = run_import(settings, FIXTURES)
    assert first.rows == sum(chains.values()) == count(settings.db_path)
    assert first.bodies == len(chains) and not first.conflicts
    assert {Path(r.source).name for r in first.rejected} == set(expected) - set(chains)
    again = run_import(settings, FIXTURES)
    assert (again.rows, again.snapshots) == (0, 0)
    assert again.duplicates == first.snapshots
    assert count(settings.db_path) == first.rows
    # Each real snapshot's ATM row, as the loader stored it, is the rule computed by hand.
    assert stored_matches_quotes(settings.db_path) == first.snapshots


def _modified(body: bytes) -> bytes:
    """The same capture with one open interest of 31-Oct-2024 changed: same snapshot,
    different rows."""
    doc = orjson.loads(body)
    rows = doc["records"]["data"]
    leg = next(r["CE"] for r in rows if r.get("CE") and r["expiryDate"] == "31-Oct-2024")
    leg["openInterest"] += 1
    return orjson.dumps(doc)


def test_conflict_keeps_the_first_and_names_both_files(tmp_path: Path) -> None:
    body = fixture_bytes(NIFTY_2024)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a_NIFTY_2024-10-25.json.gz").write_bytes(gzip.compress(body))
    with zipfile.ZipFile(inputs / "b.zip", "w") as archive:
        archive.writestr("deep/NIFTY_20241025.json", _modified(body))
    (inputs / "c_copy.json").write_bytes(body)  # identical: a duplicate, no conflict
    (inputs / "notes.txt").write_text("not a chain")
    settings = settings_for(tmp_path)
    report = run_import(settings, inputs)
    assert len(report.conflicts) == 1
    conflict = report.conflicts[0]
    assert conflict.kept.endswith("a_NIFTY_2024-10-25.json.gz")
    assert conflict.dropped.endswith("b.zip!deep/NIFTY_20241025.json")
    assert conflict.symbol == "NIFTY" and conflict.expiry == date(2024, 10, 31)
    assert [Path(r.source).name for r in report.rejected] == ["notes.txt"]
    assert "not valid JSON" in report.rejected[0].reason
    assert report.files == 4 and report.bodies == 3
    # the legacy capture holds 18 expiries: one snapshot each, the one changed is a conflict
    assert report.snapshots == 18 and report.duplicates == 18 + 17
    assert report.rows == parser_rows(inputs / "c_copy.json") == count(settings.db_path)

    # Against the database: the loaded rows stay, the differing capture is reported.
    later = tmp_path / "later_NIFTY_2024-10-25.json"
    later.write_bytes(_modified(body))
    again = run_import(settings, later)
    assert again.rows == 0 and len(again.conflicts) == 1
    assert again.conflicts[0].kept.startswith("the database")


def test_symbol_comes_from_payload_then_flag_then_name(tmp_path: Path) -> None:
    assert symbol_from_name("legacy_indices_NIFTY_2025-07-17_1530.json") == "NIFTY"
    assert symbol_from_name("M&M_20250717.json.gz") == "M&M"
    assert symbol_from_name("BAJAJ-AUTO.json") == "BAJAJ-AUTO"
    assert symbol_from_name("chain_dump.json") is None
    # NextApi legs carry no underlying: the flag names it, else the file name
    body = fixture_bytes("nextapi_getOptionChainData_NIFTY_2026-07-10_1530.json")
    anonymous = tmp_path / "capture.json"
    anonymous.write_bytes(body.replace(b'"underlying":"NIFTY"', b'"underlying":null'))
    settings = settings_for(tmp_path)
    report = run_import(settings, anonymous)
    assert report.rows == 0 and "no symbol" in report.rejected[0].reason
    report = run_import(settings, anonymous, symbol="nifty")
    assert report.rows > 0
    assert count(settings.db_path, "SELECT count(DISTINCT symbol) FROM option_quotes") == 1


def test_old_capture_is_checked_against_its_own_day(tmp_path: Path) -> None:
    doc = orjson.loads(fixture_bytes(NIFTY_2024))
    doc["records"]["timestamp"] = "25-Nov-2024 15:30:00"  # after its first expiries
    path = tmp_path / "NIFTY_2024-11-25.json"
    path.write_bytes(orjson.dumps(doc))
    report = run_import(settings_for(tmp_path), path)
    assert report.rows == 0
    assert "expired by the capture's day 2024-11-25" in report.rejected[0].reason


# --- raw capture, reprocess, replay ------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(seed=11, speed=60, start="2026-11-25T09:20:00")) as s:
        yield s


QUOTE_ORDER = "ORDER BY symbol, expiry, exchange_ts, strike, option_type"


def all_quotes(db: Path) -> pa.Table:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(f"SELECT * FROM option_quotes {QUOTE_ORDER}").to_arrow_table()
    finally:
        con.close()


@pytest.fixture(scope="module")
def collected(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("raw")
    settings = e2e_settings(
        tmp, sim.base_url, raw_capture=True, symbols="NIFTY,RELIANCE", interval_s=60.0
    )
    clock = ScaledClock(datetime(2026, 11, 25, 9, 20, tzinfo=IST), 60.0)  # the simulator's
    for _ in range(3):  # run_once closes its client: one manager per tick
        OptionsThreadedManager(settings, clock=clock).run_once()
    return settings


def test_raw_capture_keeps_every_chain_body_with_its_request(collected: Settings) -> None:
    files = list_raw_files(collected.raw_dir)
    assert files and all(p.parent.name == "20261125" for p in files)
    bodies = [b for p in files for b in read_raw(p)]
    assert {b.symbol for b in bodies} == {"NIFTY", "RELIANCE"}
    assert all(b.expiry and b.endpoint and b.http_status == 200 for b in bodies)
    con = duckdb.connect(str(collected.db_path), read_only=True)
    try:
        ok = con.execute(
            "SELECT count(*) FROM fetch_log WHERE endpoint IN (?, ?) AND http_status = 200",
            [endpoints.OPTION_CHAIN_V3.name, endpoints.NEXTAPI_CHAIN.name],
        ).fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    assert len(bodies) == ok  # every chain answer that arrived, parsed or not


def test_reprocess_gives_identical_rows_and_is_atomic(collected: Settings) -> None:
    before = all_quotes(collected.db_path)
    assert before.num_rows > 0
    report = reprocess_day(collected, date(2026, 11, 25))
    assert report.rows_before == report.rows_after == before.num_rows
    assert report.replaced == report.snapshots and report.uncovered == 0
    after = all_quotes(collected.db_path)
    assert after.equals(before)
    snapshots = count(collected.db_path, "SELECT count(*) FROM loaded_snapshots")
    assert snapshots == report.snapshots  # the index was replaced, not doubled
    assert stored_matches_quotes(collected.db_path) == snapshots  # and its ATM rows


def test_reprocess_without_raw_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(NsechainError, match="raw_capture = true"):
        reprocess_day(settings_for(tmp_path), date(2026, 11, 25))


def test_raw_files_import_into_a_fresh_database(collected: Settings, tmp_path: Path) -> None:
    fresh = settings_for(tmp_path)
    report = run_import(fresh, collected.raw_dir)
    assert all_quotes(fresh.db_path).equals(all_quotes(collected.db_path))
    assert report.rows == all_quotes(collected.db_path).num_rows


@pytest.mark.parametrize("max_rows", [1, 10_000_000])
def test_replay_is_in_order_and_complete(collected: Settings, max_rows: int) -> None:
    desk = connect(collected.db_path)
    batches = list(replay_batches(desk._session, max_rows=max_rows))
    assert sum(b.num_rows for b in batches) == count(collected.db_path)
    keys = [
        (b["exchange_ts"][0].as_py(), b["symbol"][0].as_py(), b["expiry"][0].as_py())
        for b in batches
    ]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # never backwards, no repeat
    for batch in batches:  # one snapshot per batch
        assert len({tuple(r.values()) for r in batch.select([0, 2, 3]).to_pylist()}) == 1
    stamps = [b["exchange_ts"][0].as_py() for b in batches]
    assert all(a <= b for a, b in itertools.pairwise(stamps))
    one = list(desk.replay("NIFTY", start="2026-11-25", end="2026-11-25"))
    assert one and {b["symbol"][0].as_py() for b in one} == {"NIFTY"}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_replay_and_import_commands(collected: Settings, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"day.{fmt}"
    runner = CliRunner()
    result = runner.invoke(app, ["replay", "--db", str(collected.db_path), "--to", fmt,
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    total = count(collected.db_path)
    if fmt == "parquet":
        assert pq.read_metadata(out).num_rows == total
    else:
        assert len(out.read_text().splitlines()) == total + 1
    args = ["import", str(collected.raw_dir), "--data-dir", str(tmp_path / "d"),
            "--db", str(tmp_path / "x.duckdb")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"rows={total}" in result.output and "conflicts=0" in result.output
