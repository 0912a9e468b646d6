"""store.latest: ``latest_snapshots`` equals its recomputation from ``option_quotes`` under
exactly-once loads, a crash inside the load transaction, and a rebuild; ``status`` reads it
and not the quote rows (shown with DuckDB's profiler); the desk answers "latest" from it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from nsechain.query import connect
from nsechain.store import batch as store_batch
from nsechain.store.latest import LATEST, recompute_sql, refresh, symbol_rows, symbol_rows_sql
from nsechain.store.tables import upgrade_tables
from test_store import EXP1, EXP2, T0, Dirs, tick

_ORDER = " ORDER BY symbol, expiry"


def table_and_truth(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        kept = con.execute(f"SELECT * FROM {LATEST}{_ORDER}").fetchall()
        truth = con.execute(f"SELECT * FROM ({recompute_sql()}){_ORDER}").fetchall()
    return kept, truth


@pytest.fixture
def d(tmp_path: Path) -> Dirs:
    return Dirs(tmp_path)


def at(minutes: int) -> object:
    return T0 + timedelta(minutes=minutes)


def test_exactly_once_loads_keep_it_equal_to_the_quotes(d: Dirs) -> None:
    s = [("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0), ("BANKNIFTY", EXP1, T0)]
    tick(d.pending, T0, s[:2])
    tick(d.pending, T0 + timedelta(minutes=1), s[1:])  # repeats NIFTY EXP2: loaded once
    ld = d.loader()
    ld.load_pending()
    later = T0 + timedelta(minutes=2)
    tick(d.pending, later, [s[0], ("NIFTY", EXP1, later)])  # s[0] again, in a later batch
    ld.load_pending()
    kept, truth = table_and_truth(d.db)
    assert kept == truth
    assert [(r[0], r[2], r[3], r[4]) for r in kept if r[0] == "NIFTY" and r[1] == EXP1] == [
        ("NIFTY", later, 2, 20)
    ]


def test_a_crash_inside_the_load_transaction_leaves_it_unchanged(
    d: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    d.loader().load_pending()
    before, _ = table_and_truth(d.db)
    later = T0 + timedelta(minutes=1)
    tick(d.pending, later, [("NIFTY", EXP1, later), ("FINNIFTY", EXP2, later)])

    def killed(name: str) -> None:
        raise KeyboardInterrupt(f"killed at {name}")  # rows inserted, not committed

    monkeypatch.setattr(store_batch, "pause_point", killed)
    with pytest.raises(KeyboardInterrupt):
        d.loader().load_pending()
    assert table_and_truth(d.db) == (before, before)
    monkeypatch.undo()
    d.loader().load_pending()  # the restart loads the file once
    kept, truth = table_and_truth(d.db)
    assert kept == truth
    assert len(kept) == 2


def test_a_database_without_it_is_rebuilt_from_the_quotes(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db)) as con:
        con.execute(f"DROP TABLE {LATEST}")  # as an older nsechain left it
        upgrade_tables(con)
        assert upgrade_tables(con) == 0  # once
    kept, truth = table_and_truth(d.db)
    assert kept == truth
    assert len(kept) == 2


def test_a_rebuild_reads_the_quotes_when_the_index_misses_some(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db)) as con:
        con.execute(f"DROP TABLE {LATEST}")
        later = T0 + timedelta(minutes=1)  # rows no loader listed (a hand-made insert)
        con.execute(
            "INSERT INTO option_quotes SELECT * REPLACE (?::TIMESTAMPTZ AS exchange_ts)"
            " FROM option_quotes",
            [later],
        )
        upgrade_tables(con)
    kept, truth = table_and_truth(d.db)
    assert kept == truth
    assert [(r[2], r[3], r[4]) for r in kept] == [(later, 2, 20)]


def test_refresh_recounts_the_pairs_whose_rows_were_rewritten(d: Dirs) -> None:
    tick(d.pending, T0, [("NIFTY", EXP1, T0), ("NIFTY", EXP2, T0)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db)) as con:
        con.execute("DELETE FROM option_quotes WHERE expiry = ? AND strike > 24100", [EXP1])
        con.execute("CREATE TEMP TABLE changed AS SELECT 'NIFTY' AS symbol, ? AS expiry", [EXP1])
        refresh(con, "changed")
    kept, truth = table_and_truth(d.db)
    assert kept == truth
    assert [r[4] for r in kept] == [6, 10]


def test_status_reads_no_quote_rows(d: Dirs) -> None:
    later = T0 + timedelta(minutes=1)
    tick(d.pending, T0, [("NIFTY", EXP1, T0), ("BANKNIFTY", EXP1, T0)])
    tick(d.pending, later, [("NIFTY", EXP1, later)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db), read_only=True) as con:
        rows = symbol_rows(con)
        # DuckDB's profiler: the tables the status query scans, and the rows it reads.
        plan = con.execute("EXPLAIN ANALYZE " + symbol_rows_sql(con)).fetchall()[0][1]
    scanned = set(re.findall(r"Table: \S+?\.main\.(\w+)", plan))
    assert scanned == {LATEST}
    assert sorted(r[:2] for r in rows) == [("BANKNIFTY", 10), ("NIFTY", 20)]
    with duckdb.connect(str(d.db), read_only=True) as con:  # the old query, for contrast
        old = "SELECT symbol, count(*) FROM option_quotes GROUP BY symbol"
        plan = con.execute("EXPLAIN ANALYZE " + old).fetchall()[0][1]
    assert set(re.findall(r"Table: \S+?\.main\.(\w+)", plan)) == {"option_quotes"}


def test_the_desk_answers_latest_from_it_and_falls_back_for_a_missing_pair(d: Dirs) -> None:
    later = T0 + timedelta(minutes=1)
    tick(d.pending, T0, [("NIFTY", EXP1, T0)])
    tick(d.pending, later, [("NIFTY", EXP1, later), ("NIFTY", EXP2, later)])
    d.loader().load_pending()
    with duckdb.connect(str(d.db)) as con:  # a pair missing from the table (hand-made rows)
        con.execute(f"DELETE FROM {LATEST} WHERE expiry = ?", [EXP2])
    desk = connect(d.db)
    assert desk.snapshot("nifty").exchange_ts == later
    assert desk.snapshot("NIFTY", EXP2).exchange_ts == later  # from loaded_snapshots
    assert desk.snapshot("NIFTY", EXP1, at=T0).exchange_ts == T0  # ``at``: not the latest
    assert desk.chain("NIFTY").num_rows == 5
