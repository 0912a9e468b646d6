"""A load interrupts the read-only dashboard's queries in progress: a query that would hold
the file longer than the loader waits is stopped when the loader raises its flag, the file is
given up, and the request is asked again behind the load (``store.loadflag.LoadWatch``,
``web.reader.ReadOnlyReader``). Counted, never timed."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import duckdb

from conftest import wait_for
from nsechain.collector.batch import Batcher, make_loader
from nsechain.config import Settings
from nsechain.query import Desk, connect
from nsechain.store.loadflag import LoadWatch, load_is_wanted, load_wanted, watcher_for
from nsechain.web.reader import ReadOnlyReader
from test_store import EXP1, T0, tick

_ENDLESS = "SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3"


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "x.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT 42 AS v")
    con.close()
    return db


def test_a_load_interrupts_a_long_read_which_is_asked_again_after_it(tmp_path: Path) -> None:
    db = _db(tmp_path)
    reader = ReadOnlyReader(db, timeout_s=60)
    calls: list[int] = []

    def compute(desk: Desk) -> int:
        calls.append(1)
        if len(calls) == 1:
            desk.sql(_ENDLESS)  # holds the file for hours unless interrupted
        return int(desk.sql("SELECT v FROM t").column(0)[0].as_py())

    answer: list[int] = []
    asking = threading.Thread(target=lambda: answer.append(reader.cached("k", compute)))
    asking.start()
    wait_for(lambda: len(calls) == 1, timeout=60)  # reading, holding the file
    with load_wanted(db):  # a loader (this process: alive) wants the file...
        wait_for(lambda: reader.retries >= 1, timeout=60)  # ...the read gave it up
        assert len(calls) == 1  # and waits behind the flag instead of reading again
    asking.join(60)
    assert answer == [42] and len(calls) == 2 and reader.retries == 1
    assert reader.watch.interrupts >= 1


def test_the_watch_leaves_connections_alone_without_a_flag(tmp_path: Path) -> None:
    db = _db(tmp_path)
    con = duckdb.connect(str(db), read_only=True)
    watch = LoadWatch(db)
    watch.add(con)
    try:
        assert not load_is_wanted(db)
        result = con.execute("SELECT count(*) FROM range(3000000)").fetchone()
        assert result == (3000000,) and watch.interrupts == 0
    finally:
        watch.discard(con)
        con.close()
    with load_wanted(db):
        assert load_is_wanted(db)
    assert not load_is_wanted(db)


def test_one_thread_watches_one_flag_for_the_dashboard_and_the_desk(tmp_path: Path) -> None:
    db = _db(tmp_path)
    watcher = watcher_for(db)
    before = watcher.threads_started
    reader = ReadOnlyReader(db, timeout_s=60)
    desks = [connect(db, linger_s=60), connect(tmp_path / "." / "x.duckdb", linger_s=60)]
    with reader.desk():  # a dashboard request holding the file, watched
        for desk in desks:
            assert desk.sql("SELECT v FROM t").column(0).to_pylist() == [42]
        assert len(watcher.listeners()) == 3 and watcher.running
        with load_wanted(db):
            wait_for(lambda: reader.watch.interrupts >= 1, timeout=60)
            wait_for(lambda: watcher.listeners() == [reader.watch], timeout=60)
            assert all(d._linger is not None and d._linger._con is None for d in desks)
    assert not watcher.listeners()  # the request gave its connection back
    assert watcher.threads_started - before == 1  # one thread served all three
    # ... and it ends with no one to watch. (Counted on this watcher: other tests' watchers of
    # other files may still be ending their last poll in this process.)
    wait_for(lambda: not watcher.running, timeout=60)
    for desk in desks:
        desk.close()


def _collector(tmp_path: Path) -> tuple[Settings, Batcher]:
    settings = Settings(data_dir=tmp_path / "data", db_path=tmp_path / "db.duckdb")
    return settings, Batcher(settings, make_loader(settings))


def test_a_load_beside_a_lingering_desk_in_its_own_process_is_never_refused(
    tmp_path: Path,
) -> None:
    """``nsechain collect`` with a path-backed desk in the same process (a notebook running
    the collector, the dashboard's default desk): DuckDB refuses the loader's read-write open
    outright while the desk's read-only connection is open here; a refusal costs a 15 s retry.
    """
    settings, batcher = _collector(tmp_path)
    tick(settings.pending_dir, T0, [("NIFTY", EXP1, T0)])
    assert batcher.load_now() is not None
    desk = connect(settings.db_path, linger_s=600)  # lingers far longer than the test
    for minute in range(1, 6):
        at = T0 + timedelta(minutes=minute)
        assert desk.sql("SELECT count(*) FROM option_quotes").column(0)[0].as_py() == 10 * minute
        tick(settings.pending_dir, at, [("NIFTY", EXP1, at)])
        result = batcher.load_now()  # the desk's connection is idle and lingering
        assert result is not None and result.files == 1
    assert batcher.stats.lock_waits == 0 and desk.opens == 5  # the connect, then after each load
    desk.close()


def test_a_load_in_the_desks_process_waits_for_its_call_in_progress(tmp_path: Path) -> None:
    settings, batcher = _collector(tmp_path)
    tick(settings.pending_dir, T0, [("NIFTY", EXP1, T0)])
    assert batcher.load_now() is not None
    desk = connect(settings.db_path, linger_s=600)
    at = T0 + timedelta(minutes=1)
    tick(settings.pending_dir, at, [("NIFTY", EXP1, at)])
    results: list[object] = []
    loading = threading.Thread(target=lambda: results.append(batcher.load_now()))
    with desk._session() as con:  # a call running while the load starts
        loading.start()
        wait_for(lambda: load_is_wanted(settings.db_path), timeout=60)
        assert con.execute("SELECT count(*) FROM option_quotes").fetchone() == (10,)
    loading.join(60)  # the call's end let the file go; the load's retry got it
    assert results and results[0] is not None and batcher.stats.lock_waits == 0
    assert desk.sql("SELECT count(*) FROM option_quotes").column(0)[0].as_py() == 20
    desk.close()
