"""store.daysort: a closed day is rewritten sorted in place with exactly the same rows, one day
per call, only days before today, recorded so it is never done twice; a failure rolls back;
the batch thread does it only while the market is closed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from nsechain.collector.batch import Batcher
from nsechain.config import Settings
from nsechain.errors import StorageError
from nsechain.store import daysort
from nsechain.store.compact import SORT
from test_compact import TABLES, contents
from test_store import EXP1, EXP2, T0, Dirs, tick

DAY1, DAY2, DAY3 = (T0 + timedelta(days=n) for n in range(3))


@pytest.fixture
def d(tmp_path: Path) -> Dirs:
    dirs = Dirs(tmp_path)
    for day in (DAY1, DAY2, DAY3):  # three days, each two ticks of two expiries, tick order
        for m in range(2):
            at = day + timedelta(minutes=m)
            tick(dirs.pending, at, [("NIFTY", EXP2, at), ("NIFTY", EXP1, at)])
    dirs.loader().load_pending()
    return dirs


def _stored_sorted(db: Path, day_start: object) -> bool:
    with duckdb.connect(str(db), read_only=True) as con:
        where = "exchange_ts >= $lo AND exchange_ts < $lo + INTERVAL 1 DAY"
        p = {"lo": day_start}
        stored = con.execute(f"SELECT {SORT} FROM option_quotes WHERE {where}", p).fetchall()
        ordered = con.execute(
            f"SELECT {SORT} FROM option_quotes WHERE {where} ORDER BY {SORT}", p
        ).fetchall()
    return stored == ordered


def _day0(at: object) -> object:
    return at.replace(hour=0, minute=0)  # type: ignore[attr-defined]


def test_closed_days_are_sorted_one_per_call_with_the_same_rows(d: Dirs) -> None:
    before = contents(d.db)
    assert not _stored_sorted(d.db, _day0(DAY2))  # tick order: EXP2 before EXP1
    loader = d.loader()
    today = DAY3.date()
    # Nothing sorted yet: only the latest closed day (older history is for `compact`).
    assert loader.sort_closed_day(today) == (DAY2.date(), 40)
    assert loader.sort_closed_day(today) is None  # done once
    assert _stored_sorted(d.db, _day0(DAY2))
    assert not _stored_sorted(d.db, _day0(DAY1))  # left to `nsechain compact`
    assert not _stored_sorted(d.db, _day0(DAY3))  # today: the loader still appends to it
    # The next day, the day after the last sorted one.
    assert loader.sort_closed_day(today + timedelta(days=1)) == (DAY3.date(), 40)
    assert contents(d.db) == before  # every table, every row, as before
    with duckdb.connect(str(d.db), read_only=True) as con:
        done = con.execute("SELECT day, quote_rows FROM sorted_days ORDER BY day").fetchall()
    assert done == [(DAY2.date(), 40), (DAY3.date(), 40)]
    d.loader().load_pending()  # loads go on as before


def test_a_sort_that_fails_rolls_back(d: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    before = contents(d.db)
    monkeypatch.setattr(daysort, "SORT", "no_such_column")
    with pytest.raises(StorageError):
        d.loader().sort_closed_day(DAY3.date())
    monkeypatch.undo()
    assert contents(d.db) == before
    with duckdb.connect(str(d.db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sorted_days").fetchall() == [(0,)]


def test_the_batch_thread_sorts_only_while_the_market_is_closed(d: Dirs, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", db_path=d.db)
    state: dict[str, object] = {"today": None}
    batcher = Batcher(settings, d.loader(), lambda: state["today"])  # type: ignore[arg-type,return-value]
    assert batcher.sort_closed_day() is None  # the market is open (or not known yet)
    state["today"] = DAY3.date()
    assert batcher.sort_closed_day() == (DAY2.date(), 40)
    assert batcher.sort_closed_day() is None  # all sorted: not asked again today
    assert batcher._all_sorted_on == DAY3.date()
    off = Settings(data_dir=tmp_path / "data", db_path=d.db, sort_closed_days=False)
    assert (
        Batcher(off, d.loader(), lambda: DAY3.date() + timedelta(days=1)).sort_closed_day() is None
    )
    assert set(TABLES) <= set(contents(d.db))
