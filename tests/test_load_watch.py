"""A load interrupts the read-only dashboard's queries in progress: a query that would hold
the file longer than the loader waits is stopped when the loader raises its flag, the file is
given up, and the request is asked again behind the load (``store.loadflag.LoadWatch``,
``web.reader.ReadOnlyReader``). Counted, never timed."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from conftest import wait_for
from nsechain.query import Desk
from nsechain.store.loadflag import LoadWatch, load_is_wanted, load_wanted
from nsechain.web.reader import ReadOnlyReader

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
    watch = LoadWatch(db, poll_s=0.001)
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
