"""store.compact: the rewritten file holds exactly the same rows in every table, the views,
closed days in the sorted order, and nothing is lost when the rewrite dies before its rename."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from nsechain.analytics.views import create_views
from nsechain.query import connect
from nsechain.store import compact as compact_mod
from nsechain.store.compact import SORT, compact
from test_store import EXP1, EXP2, T0, Dirs, tick

TABLES = ("option_quotes", "fetch_log", "loaded_files", "loaded_snapshots", "latest_snapshots")


@pytest.fixture
def d(tmp_path: Path) -> Dirs:
    dirs = Dirs(tmp_path)
    day2 = T0 + timedelta(days=1)
    for day in (T0, day2):  # two days, each with two ticks of two expiries, in tick order
        for m in range(2):
            at = day + timedelta(minutes=m)
            tick(dirs.pending, at, [("NIFTY", EXP2, at), ("NIFTY", EXP1, at)])
    dirs.loader().load_pending()
    with duckdb.connect(str(dirs.db)) as con:
        create_views(con)
    return dirs


def contents(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def test_compact_keeps_every_row_and_view_and_sorts_closed_days(d: Dirs) -> None:
    before = contents(d.db)
    report = compact(d.db, schema_hook=create_views)
    assert (report.days, report.sorted_days, report.quote_rows) == (2, 1, 80)
    assert contents(d.db) == before
    with duckdb.connect(str(d.db), read_only=True) as con:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        first_day = con.execute(
            f"SELECT {SORT} FROM option_quotes WHERE exchange_ts < ?",
            [T0 + timedelta(hours=12)],
        ).fetchall()
        in_order = con.execute(
            f"SELECT {SORT} FROM option_quotes WHERE exchange_ts < ? ORDER BY {SORT}",
            [T0 + timedelta(hours=12)],
        ).fetchall()
    assert {"latest_chain", "pcr"} <= views
    assert first_day == in_order  # stored in the sorted order
    assert connect(d.db).chain("NIFTY").num_rows == 5
    assert not list(d.db.parent.glob(".compact-*"))


def test_a_rewrite_that_dies_before_its_rename_leaves_the_old_file(
    d: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = contents(d.db)

    def power_cut(*_: object) -> None:
        raise OSError("power cut before the rename")

    monkeypatch.setattr(compact_mod, "_publish", power_cut)
    with pytest.raises(OSError, match="power cut"):
        compact(d.db)
    monkeypatch.undo()
    assert contents(d.db) == before
    assert not list(d.db.parent.glob(".compact-*"))
    d.loader().load_pending()  # the loader still opens it


def _sorted_days(db: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT day, quote_rows FROM sorted_days ORDER BY day").fetchall()


def test_compact_records_the_days_it_sorted_so_the_scheduled_sort_skips_them(d: Dirs) -> None:
    day2 = T0 + timedelta(days=1)
    day3 = T0 + timedelta(days=2)
    tick(d.pending, day3, [("NIFTY", EXP1, day3)])
    d.loader().load_pending()  # three days now: two closed ones get sorted by the rewrite
    assert compact(d.db).sorted_days == 2
    assert _sorted_days(d.db) == [(T0.date(), 40), (day2.date(), 40)]
    loader = d.loader()
    # The batch thread's scheduled sort (store.daysort) does not redo them ...
    assert loader.sort_closed_day(day3.date()) is None
    # ... and goes on with the next closed day; the key survived the rewrite (INSERT OR
    # REPLACE needs it).
    assert loader.sort_closed_day(day3.date() + timedelta(days=1)) == (day3.date(), 10)
    assert compact(d.db).sorted_days == 2  # the newest day keeps its load order, and its record
    assert _sorted_days(d.db) == [(T0.date(), 40), (day2.date(), 40), (day3.date(), 10)]


def test_a_sorted_days_table_that_lost_its_key_is_keyed_again(d: Dirs) -> None:
    """A file compacted before ``sorted_days`` was one of the store's tables got a copy
    without its primary key; every later day sort then failed."""
    with duckdb.connect(str(d.db)) as con:
        con.execute("DROP TABLE sorted_days")
        con.execute(
            "CREATE TABLE sorted_days AS SELECT ?::DATE AS day, 40::BIGINT AS quote_rows,"
            " now() AS sorted_at",
            [T0.date()],
        )
    today = (T0 + timedelta(days=2)).date()
    assert d.loader().load_pending().files == 0  # any load upgrades the tables
    assert d.loader().sort_closed_day(today) == ((T0 + timedelta(days=1)).date(), 40)
    assert _sorted_days(d.db) == [(T0.date(), 40), ((T0 + timedelta(days=1)).date(), 40)]
