"""store/: layout, atomic tick files, quarantine, and the exactly-once DuckDB loader.

Every loader test uses a real DuckDB file under tmp_path; the lock test holds it from another
process, as the dashboard or a notebook would.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nsechain import contract
from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA
from nsechain.errors import DatabaseLocked, StorageError
from nsechain.store import files, loader, paths
from nsechain.store.files import (
    quarantine_body,
    read_tick_fetch_log,
    save_atomic,
    sweep_temp_files,
    write_tick,
)
from nsechain.store.loader import Loader, open_db
from nsechain.store.tables import upgrade_tables
from nsechain.timeutil import IST

T0 = datetime(2026, 11, 11, 9, 16, tzinfo=IST)
EXP1 = date(2026, 11, 17)
EXP2 = date(2026, 11, 24)


# --- builders ----------------------------------------------------------------------------------


def quotes(
    snapshots: list[tuple[str, date, datetime]], strikes: int = 5, price: float = 1.0
) -> pa.Table:
    """Rows of each (symbol, expiry, exchange_ts) snapshot: ``strikes`` × CE/PE."""
    cols: dict[str, list[object]] = {f.name: [] for f in QUOTES_SCHEMA}
    for symbol, expiry, ts in snapshots:
        for i in range(strikes):
            for opt in ("CE", "PE"):
                row: dict[str, object] = {
                    "exchange_ts": ts,
                    "fetched_at": ts + timedelta(seconds=2),
                    "symbol": symbol,
                    "expiry": expiry,
                    "strike": 24000.0 + 50 * i,
                    "option_type": opt,
                    "volume": i,
                    "last_price": price,
                    "identifier": f"OPTIDX{symbol}{expiry:%d-%m-%Y}{opt}{24000 + 50 * i}",
                }
                for name, values in cols.items():
                    values.append(row.get(name))
    return pa.table(cols, schema=QUOTES_SCHEMA)


def fetch_log(snapshots: list[tuple[str, date, datetime]], extra_failed: int = 0) -> pa.Table:
    rows: list[dict[str, object]] = [
        {
            "fetched_at": ts + timedelta(seconds=2),
            "symbol": s,
            "expiry": e,
            "endpoint": "option-chain-v3",
            "http_status": 200,
            "outcome": "ok",
            "rows": 10,
            "exchange_ts": ts,
            "attempt": 1,
        }
        for s, e, ts in snapshots
    ]
    rows += [
        {
            "fetched_at": T0,
            "symbol": "NIFTY",
            "endpoint": "option-chain-v3",
            "outcome": "timeout",
            "attempt": 1,
            "error": "read timeout",
        }
    ] * extra_failed
    return pa.Table.from_pylist(rows, schema=FETCH_LOG_SCHEMA)


def tick(pending: Path, at: datetime, snaps: list[tuple[str, date, datetime]], **kw: int) -> Path:
    return write_tick(pending, at, quotes(snaps), fetch_log(snaps, **kw))


class Dirs:
    def __init__(self, root: Path) -> None:
        self.db = root / "db" / "test.duckdb"
        self.pending = root / "data" / "options_parquet"
        self.processed = root / "data" / "options_processed"
        self.quarantine = root / "data" / "quarantine"

    def loader(self, **kw: float) -> Loader:
        return Loader(self.db, self.pending, self.processed, self.quarantine, **kw)

    def count(self, sql: str) -> int:
        with duckdb.connect(str(self.db), read_only=True) as con:
            row = con.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def d(tmp_path: Path) -> Dirs:
    return Dirs(tmp_path)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- paths -------------------------------------------------------------------------------------


def test_tick_names_use_ist_and_sort_by_time() -> None:
    utc = datetime(2026, 11, 10, 20, 0, 5, tzinfo=UTC)  # 01:30:05 IST on the 11th
    name = paths.tick_file_name(utc, token="0a1b2c3d")
    assert name == "tick_20261111T013005_0a1b2c3d.parquet"
    assert paths.day_folder(Path("r"), utc) == Path("r/20261111")
    assert paths.tick_time_of_name(name) == datetime(2026, 11, 11, 1, 30, 5, tzinfo=IST)
    assert paths.day_of_name("notes.txt") is None
    with pytest.raises(ValueError, match="aware"):
        paths.tick_file_name(datetime(2026, 11, 11, 9, 15))  # naive on purpose


def test_listing_skips_temp_and_foreign_files(tmp_path: Path) -> None:
    day = tmp_path / "20261111"
    day.mkdir()
    late = day / paths.tick_file_name(T0 + timedelta(minutes=1))
    early = day / paths.tick_file_name(T0)
    for p in (late, early, day / ".tmp-x.parquet.1234", day / "readme.txt"):
        p.write_bytes(b"")
    assert paths.list_tick_files(tmp_path) == [early, late]
    assert [p.name for p in paths.list_temp_files(tmp_path)] == [".tmp-x.parquet.1234"]
    assert paths.list_tick_files(tmp_path / "missing") == []


# --- atomic files ------------------------------------------------------------------------------


def test_save_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "status.json"
    save_atomic(target, b'{"a": 1}')
    save_atomic(target, b'{"a": 2}')
    assert target.read_bytes() == b'{"a": 2}'
    assert all_files(tmp_path) == [target]


def test_write_tick_is_readable_and_carries_its_fetch_log(d: Dirs) -> None:
    snaps = [("NIFTY", EXP1, T0), ("M&M", EXP1, T0)]
    flog = fetch_log(snaps, extra_failed=2)
    path = write_tick(d.pending, T0, quotes(snaps), flog)
    assert path.parent == d.pending / "20261111"
    assert paths.is_tick_file(path)
    assert all_files(d.pending) == [path]  # no temp file left behind
    assert pq.read_table(path).equals(quotes(snaps))
    assert read_tick_fetch_log(path).equals(flog)
    info = files.read_tick_info(path)
    assert info.snapshots.num_rows == 2
    assert info.header["quote_rows"] == 20
    assert info.header["fetch_rows"] == 4


def test_failure_mid_write_leaves_no_final_and_no_temp_file(
    d: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(sink: IO[bytes], table: pa.Table, metadata: dict[str, bytes]) -> None:
        sink.write(b"PAR1" + b"\0" * 1000)  # half a file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write_parquet", disk_full)
    with pytest.raises(StorageError, match="No space left") as err:
        tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    assert "options_parquet/20261111/tick_20261111T091600_" in str(err.value)
    assert all_files(d.pending) == []


def test_write_tick_rejects_a_table_with_the_wrong_schema(d: Dirs) -> None:
    bad = quotes([("NIFTY", EXP1, T0)]).drop_columns(["iv"])
    with pytest.raises(ValueError, match="iv: want double, got missing"):
        write_tick(d.pending, T0, bad, fetch_log([]))
    assert all_files(d.pending) == []


def test_sweep_spares_young_temp_files(tmp_path: Path) -> None:
    day = tmp_path / "20261111"
    day.mkdir()
    old, young = day / ".tmp-a.parquet.1", day / ".tmp-b.parquet.2"
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    # Both times set and the clock injected: under libfaketime time.time() is faked but the
    # file times the kernel writes are not, so "now" and an mtime must come from one place.
    now = 2_000_000_000.0
    os.utime(old, (1_000_000, 1_000_000))
    os.utime(young, (now - 5, now - 5))
    assert sweep_temp_files(tmp_path, min_age_s=60, clock=lambda: now) == [old]
    assert sweep_temp_files(tmp_path) == [young]
    assert all_files(tmp_path) == []


def test_sweep_never_removes_a_temp_file_this_process_is_writing(tmp_path: Path) -> None:
    # The loader sweeps its folder between loads with a grace on the file's age; an mtime on
    # a clock a year behind ours (libfaketime, a corrected clock) once made it delete the
    # collection thread's tick file mid-write ("cannot write (No such file or directory)").
    from nsechain.store.files import _atomic_file

    target = tmp_path / "20261111" / "tick.parquet"
    with _atomic_file(target) as fh:
        fh.write(b"half")
        (tmp,) = list(target.parent.glob(".tmp-*"))
        os.utime(tmp, (1_000_000, 1_000_000))
        assert sweep_temp_files(tmp_path, min_age_s=60, clock=lambda: 2_000_000_000.0) == []
        assert sweep_temp_files(tmp_path) == []
        fh.write(b" and the rest")
    assert target.read_bytes() == b"half and the rest"


def test_quarantine_body_keeps_bytes_and_reason(tmp_path: Path) -> None:
    fetched = datetime(2026, 11, 11, 3, 50, tzinfo=UTC)  # 09:20 IST
    path = quarantine_body(
        tmp_path, body=b"<html>", reason="HTML", symbol="M&M", expiry=EXP1, fetched_at=fetched
    )
    assert path.parent == tmp_path / "20261111"
    assert path.read_bytes() == b"<html>"
    reason = json.loads(path.with_name(path.name + ".reason.json").read_text())
    assert reason["reason"] == "HTML"
    assert reason["symbol"] == "M&M"
    assert reason["expiry"] == "2026-11-17"
    assert reason["fetched_at"] == fetched.isoformat()
    assert "&" not in path.name


# --- loader ------------------------------------------------------------------------------------


def test_load_moves_files_and_loading_twice_loads_nothing_twice(d: Dirs) -> None:
    written = [
        tick(d.pending, T0 + timedelta(minutes=m), [("NIFTY", EXP1, T0 + timedelta(minutes=m))])
        for m in range(3)
    ]
    first = d.loader().load_pending()
    assert (first.files, first.quote_rows, first.fetch_rows, first.skipped_snapshots) == (
        3,
        30,
        3,
        0,
    )
    assert paths.list_tick_files(d.pending) == []
    assert [p.name for p in paths.list_tick_files(d.processed)] == [p.name for p in written]
    again = d.loader().load_pending()
    assert (again.files, again.quote_rows) == (0, 0)
    assert d.count("SELECT count(*) FROM option_quotes") == 30
    assert d.count("SELECT count(*) FROM fetch_log") == 3
    assert d.count("SELECT count(*) FROM loaded_files WHERE day = DATE '2026-11-11'") == 3
    assert d.count("SELECT count(*) FROM loaded_snapshots") == 3


def test_max_files_loads_oldest_first(d: Dirs) -> None:
    for m in range(3):
        tick(d.pending, T0 + timedelta(minutes=m), [("NIFTY", EXP1, T0 + timedelta(minutes=m))])
    ld = d.loader()
    assert ld.load_pending(max_files=2).files == 2
    assert [p.name[14:20] for p in paths.list_tick_files(d.pending)] == ["091800"]
    assert ld.load_pending().files == 1


def test_same_snapshot_in_two_files_of_one_batch_is_loaded_once(d: Dirs) -> None:
    s1, s2, s3 = ("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0), ("BANKNIFTY", EXP1, T0)
    tick(d.pending, T0, [s1, s2])
    # A restart lost the stale-detection memory: the next tick repeats s2 (same NSE timestamp).
    tick(d.pending, T0 + timedelta(minutes=1), [s2, s3])
    result = d.loader().load_pending()
    assert (result.files, result.quote_rows, result.skipped_snapshots) == (2, 30, 1)
    assert result.skipped_rows == 10
    assert d.count("SELECT count(*) FROM option_quotes WHERE expiry = DATE '2026-11-24'") == 10
    assert d.count("SELECT count(*) FROM loaded_snapshots") == 3
    assert d.count("SELECT sum(quote_rows) FROM loaded_files") == 30


def test_snapshot_already_in_the_database_is_skipped_in_a_later_batch(d: Dirs) -> None:
    s1, s2 = ("NIFTY", EXP1, T0), ("FINNIFTY", EXP1, T0)
    tick(d.pending, T0, [s1])
    ld = d.loader()
    ld.load_pending()
    tick(d.pending, T0 + timedelta(minutes=1), [s1])  # fully duplicate file
    tick(d.pending, T0 + timedelta(minutes=2), [s1, s2])  # partly duplicate file
    result = ld.load_pending()
    assert (result.files, result.quote_rows, result.skipped_snapshots) == (2, 10, 2)
    assert d.count("SELECT count(*) FROM option_quotes") == 20
    assert d.count("SELECT count(*) FROM option_quotes WHERE symbol = 'NIFTY'") == 10
    assert d.count("SELECT count(*) FROM loaded_files") == 3  # every file is accounted for
    assert paths.list_tick_files(d.pending) == []


def test_crash_between_commit_and_move_neither_loses_nor_duplicates(
    d: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for m in range(2):
        tick(d.pending, T0 + timedelta(minutes=m), [("NIFTY", EXP1, T0 + timedelta(minutes=m))])
    real_move_all = loader._move_all

    def crash(*_: object) -> None:
        raise RuntimeError("power cut after COMMIT")

    monkeypatch.setattr(loader, "_move_all", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        d.loader().load_pending()
    assert d.count("SELECT count(*) FROM option_quotes") == 20  # committed ...
    assert len(paths.list_tick_files(d.pending)) == 2  # ... but still pending

    monkeypatch.setattr(loader, "_move_all", real_move_all)
    result = d.loader().load_pending()  # the restarted process
    assert (result.files, result.moved, result.quote_rows) == (0, 2, 0)
    assert d.count("SELECT count(*) FROM option_quotes") == 20
    assert paths.list_tick_files(d.pending) == []
    assert len(paths.list_tick_files(d.processed)) == 2


def test_processed_files_missing_from_the_manifest_are_loaded_again(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    d.loader().load_pending()
    d.db.unlink()  # the database is lost; the processed folder still holds the data
    result = d.loader().load_pending()
    assert (result.requeued, result.files, result.quote_rows) == (1, 1, 10)
    assert d.count("SELECT count(*) FROM option_quotes") == 10
    assert len(paths.list_tick_files(d.processed)) == 1


def test_corrupt_and_foreign_schema_files_are_quarantined_and_the_rest_loads(d: Dirs) -> None:
    good = tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    truncated = tick(d.pending, T0 + timedelta(minutes=1), [("NIFTY", EXP1, T0)])
    truncated.write_bytes(truncated.read_bytes()[:-100])
    foreign = d.pending / "20261111" / paths.tick_file_name(T0 + timedelta(minutes=2))
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    result = d.loader().load_pending()
    assert (result.files, result.quote_rows) == (1, 10)
    assert sorted(p.name for p in result.quarantined) == sorted([truncated.name, foreign.name])
    assert [p.name for p in paths.list_tick_files(d.processed)] == [good.name]
    for q in result.quarantined:
        assert q.parent == d.quarantine / "20261111"
        reason = json.loads(q.with_name(q.name + ".reason.json").read_text())
        assert reason["source"].endswith(q.name)
    reasons = {
        q.name: json.loads(q.with_name(q.name + ".reason.json").read_text())["reason"]
        for q in result.quarantined
    }
    assert "schema differs" in reasons[foreign.name]
    assert "unreadable" in reasons[truncated.name]


def test_a_bad_data_page_behind_a_good_footer_is_quarantined(d: Dirs) -> None:
    snaps = [("NIFTY", EXP1, T0)]
    good = tick(d.pending, T0, snaps)
    later = [("NIFTY", EXP2, T0)]
    bad = write_tick(d.pending, T0 + timedelta(minutes=1), quotes(later, 2000), fetch_log(later))
    raw = bytearray(bad.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    body_end = len(raw) - 8 - footer
    raw[200 : body_end - 200] = b"\xff" * (body_end - 400)  # garbage pages, intact footer
    bad.write_bytes(bytes(raw))
    result = d.loader().load_pending()
    assert [p.name for p in result.quarantined] == [bad.name]
    sidecar = result.quarantined[0].with_name(bad.name + ".reason.json")
    assert "unreadable data pages" in json.loads(sidecar.read_text())["reason"]
    assert (result.files, result.quote_rows) == (1, 10)
    assert [p.name for p in paths.list_tick_files(d.processed)] == [good.name]


def test_an_empty_tick_still_loads_its_fetch_log(d: Dirs) -> None:
    path = write_tick(d.pending, T0, QUOTES_SCHEMA.empty_table(), fetch_log([], extra_failed=3))
    result = d.loader().load_pending()
    assert (result.files, result.quote_rows, result.fetch_rows) == (1, 0, 3)
    assert d.count("SELECT count(*) FROM fetch_log WHERE outcome = 'timeout'") == 3
    assert d.count(f"SELECT quote_rows FROM loaded_files WHERE file_name = '{path.name}'") == 0


def test_recover_sweeps_temp_files_and_loads_nothing_new(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    stale = d.pending / "20261111" / ".tmp-tick_x.parquet.abcd"
    stale.write_bytes(b"half")
    result = d.loader().recover()
    assert result.files == 0
    assert not stale.exists()
    assert len(paths.list_tick_files(d.pending)) == 1


LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that opens ``db`` read-write and keeps it; returns once it holds it."""
    db.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding"
    holder.stdout.close()
    return holder


def test_a_lock_held_by_another_process_leaves_files_pending(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    holder = hold_lock(d.db, 120)
    try:
        with pytest.raises(DatabaseLocked) as err:
            d.loader().load_pending()
        assert str(d.db) in str(err.value)
        with pytest.raises(DatabaseLocked):
            open_db(d.db, read_only=True)
        assert len(paths.list_tick_files(d.pending)) == 1
    finally:
        holder.kill()
        holder.wait()
    result = d.loader().load_pending()
    assert (result.files, result.quote_rows) == (1, 10)


def test_lock_timeout_waits_for_the_other_process_to_let_go(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    holder = hold_lock(d.db, 0.5)
    try:
        result = d.loader(lock_timeout_s=120).load_pending()
    finally:
        holder.kill()
        holder.wait()
    assert (result.files, result.quote_rows) == (1, 10)


def test_open_db_reports_other_trouble_as_storage_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "x.duckdb"
    not_a_db.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(StorageError) as err:
        open_db(not_a_db)
    assert not isinstance(err.value, DatabaseLocked)


def test_a_reader_in_this_process_shares_the_instance_and_keeps_its_settings(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    d.db.parent.mkdir(parents=True)
    with duckdb.connect(str(d.db)) as reader:  # e.g. the dashboard inside the collector
        result = d.loader().load_pending()
        assert result.quote_rows == 10
        assert reader.execute("SELECT count(*) FROM option_quotes").fetchone() == (10,)
        setting = "SELECT current_setting('preserve_insertion_order')"
        assert reader.execute(setting).fetchone() == (True,)


# --- per-snapshot totals -------------------------------------------------------------------------


def legs(rows: list[tuple[str, float | None, int | None, float | None]]) -> pa.Table:
    """One snapshot (NIFTY, EXP1, T0) of (option_type, open_interest, volume, spot) rows."""
    cols: dict[str, list[object]] = {f.name: [] for f in QUOTES_SCHEMA}
    for i, (side, oi, volume, spot) in enumerate(rows):
        row: dict[str, object] = {
            "exchange_ts": T0,
            "fetched_at": T0,
            "symbol": "NIFTY",
            "expiry": EXP1,
            "strike": 24000.0 + 50 * i,
            "option_type": side,
            "open_interest": oi,
            "volume": volume,
            "underlying_value": spot,
        }
        for name, values in cols.items():
            values.append(row.get(name))
    return pa.table(cols, schema=QUOTES_SCHEMA)


def test_snapshot_totals_count_nulls_as_zero_and_keep_the_top_spot() -> None:
    table = legs(
        [
            ("CE", 100.0, 5, 24010.5),
            ("CE", None, None, None),  # a strike NSE sent without quantities
            ("PE", 40.5, 7, 24011.0),
            ("PE", 10.0, None, 24010.0),
        ]
    )
    (snap,) = files.snapshots_of(table).to_pylist()
    assert snap == {
        "symbol": "NIFTY",
        "expiry": EXP1,
        "exchange_ts": T0,
        "rows": 4,
        "underlying_value": 24011.0,
        "ce_oi": 100.0,
        "pe_oi": 50.5,
        "ce_volume": 5,
        "pe_volume": 7,
    }
    # A side without rows, and a snapshot without a spot: zeros and a null spot.
    (calls_only,) = files.snapshots_of(legs([("CE", 3.0, 1, None)])).to_pylist()
    assert (calls_only["pe_oi"], calls_only["pe_volume"], calls_only["underlying_value"]) == (
        0.0,
        0,
        None,
    )
    assert files.snapshots_of(QUOTES_SCHEMA.empty_table()).schema == contract.SNAPSHOTS_SCHEMA


def test_the_loader_stores_each_snapshots_totals(d: Dirs) -> None:
    snaps = [("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0), ("M&M", EXP1, T0)]
    path = tick(d.pending, T0, snaps)
    footer = files.read_tick_info(path).snapshots
    assert footer.schema == contract.SNAPSHOTS_SCHEMA
    d.loader().load_pending()
    with duckdb.connect(str(d.db), read_only=True) as con:
        stored = con.sql(
            "SELECT symbol, expiry, exchange_ts, rows, underlying_value, ce_oi, pe_oi,"
            " ce_volume, pe_volume FROM loaded_snapshots ORDER BY symbol, expiry"
        ).to_arrow_table()
    assert stored.to_pylist() == footer.to_pylist()
    # quotes(): volume = strike index 0..4 on each side, no OI.
    assert {(r["ce_volume"], r["pe_volume"], r["ce_oi"]) for r in stored.to_pylist()} == {
        (10, 10, 0.0)
    }


def write_format1_tick(pending: Path, at: datetime, table: pa.Table) -> Path:
    """A tick file as nsechain wrote it before the totals: a 4-column snapshot list."""
    path = paths.day_folder(pending, at) / paths.tick_file_name(at)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = files._tick_metadata(at, table, fetch_log([]))
    v1 = files.snapshots_of(table).select(["symbol", "expiry", "exchange_ts", "rows"])
    meta[files.META_SNAPSHOTS] = files._ipc_bytes(v1)
    with path.open("wb") as fh:
        files._write_parquet(fh, table, meta)
    return path


def test_a_format1_file_gets_its_totals_from_its_quotes(d: Dirs) -> None:
    table = legs([("CE", 100.0, 5, 24010.5), ("PE", 40.0, 7, 24011.0)])
    path = write_format1_tick(d.pending, T0, table)
    info = files.read_tick_info(path)
    assert info.snapshots.equals(files.snapshots_of(table))
    assert d.loader().load_pending().quote_rows == 2
    assert d.count("SELECT pe_oi FROM loaded_snapshots") == 40


def test_an_older_database_is_upgraded_and_backfilled_once(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db)) as con:  # as a loader before the totals left it
        for column in contract.SNAPSHOT_TOTALS:
            con.execute(f"ALTER TABLE loaded_snapshots DROP COLUMN {column}")
        con.execute("UPDATE option_quotes SET open_interest = strike / 1000")
    later = T0 + timedelta(minutes=1)
    tick(d.pending, later, [("NIFTY", EXP1, later)])
    result = d.loader().load_pending()
    assert (result.files, result.quote_rows) == (1, 10)
    # Old rows: summed from option_quotes (CE strikes 24000..24200 → OI 24.0..24.2).
    assert d.count("SELECT count(*) FROM loaded_snapshots WHERE ce_oi IS NULL") == 0
    assert (
        d.count(
            "SELECT round(ce_oi * 10) FROM loaded_snapshots WHERE exchange_ts = "
            f"'{T0.isoformat()}' AND expiry = '{EXP2}'"
        )
        == 1205
    )
    # New rows: from the footer. A second upgrade does nothing.
    assert (
        d.count(f"SELECT ce_volume FROM loaded_snapshots WHERE exchange_ts > '{T0.isoformat()}'")
        == 10
    )
    with open_db(d.db) as con:
        assert upgrade_tables(con) == 0


def test_an_unknown_file_in_pending_is_quarantined_with_a_reason(tmp_path: Path) -> None:
    from nsechain.store.loader import Loader as _Loader

    pending, quarantine = tmp_path / "pending", tmp_path / "quarantine"
    day = pending / "20261125"
    day.mkdir(parents=True)
    strangers = [day / "notes.txt", pending / "tick_copy.parquet", day / "tick_2026.parquet"]
    for path in strangers:
        path.write_bytes(b"not ours")
    temp = day / ".tmp-tick_x.parquet.1234abcd"
    temp.write_bytes(b"a writer's")  # temp: not a stranger
    # Written "now" by the process clock: under libfaketime file times stay real, and a temp
    # file that looks years old would be swept as a dead writer's.
    os.utime(temp, (time.time(), time.time()))
    loader = _Loader(tmp_path / "db.duckdb", pending, tmp_path / "processed", quarantine)
    result = loader.load_pending()
    assert sorted(p.name for p in result.quarantined) == sorted(p.name for p in strangers)
    for path in strangers:
        assert not path.exists()
        sidecar = next(quarantine.rglob(path.name + ".reason.json"))
        reason = json.loads(sidecar.read_text())["reason"]
        assert reason.startswith("not a tick file") and "nsechain import" in reason
        assert next(quarantine.rglob(path.name)).read_bytes() == b"not ours"  # kept, not lost
    assert temp.exists()
