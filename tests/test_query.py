"""The analysis desk on a hand-made chain small enough to check every number by hand.

The market (symbol TEST, spot 101, recorded on Thursday 2026-08-20; all times IST):

expiry 2026-08-27, snapshots at 10:00:05 (A) and 10:15:05 (B)

    strike |  CE OI A→B   CE price A→B  CE vol B |  PE OI A→B   PE price A→B  PE vol B
      90   |   80 → 100     12  → 13       10    |  600 → 600     1 → 1         60
     100   |  250 → 300      5  → 4        20    |  350 → 400     5 → 6         30
     110   |  700 → 600    1.5  → 2        30    |  150 → 200    11 → 10        15
     120   |  900 → 800    0.5  → 0.4      40    |   60 → 50     20 → 19         5

expiry 2026-09-24: one snapshot at 10:00:20, CE OI 1000 / PE OI 500 in total.
expiry 2026-08-13: its last snapshot was on 2026-08-13 (expired; must never count today).

Worked out by hand, for snapshot B of 2026-08-27:

* PCR OI = PE 1250 / CE 1800 = 0.69444; PCR volume = PE 110 / CE 100 = 1.1.
* Max pain, pain(S) = sum CE_OI*max(S-K, 0) + PE_OI*max(K-S, 0):
    S=90:  calls 0                              puts 400*10 + 200*20 + 50*30 = 9500  -> 9500
    S=100: calls 100*10 = 1000                  puts 200*10 + 50*20 = 3000           -> 4000
    S=110: calls 100*20 + 300*10 = 5000         puts 50*10 = 500                     -> 5500
    S=120: calls 100*30 + 300*20 + 600*10 = 15000                                    -> 15000
  so max pain = 100 with total pain 4000.
* Build-up A→B: 90 CE long_buildup (price up, OI up), 100 CE short_buildup (down, up),
  110 CE short_covering (up, down), 120 CE long_unwinding (down, down), 90 PE neutral
  (unchanged), 100 PE long_buildup, 110 PE short_buildup, 120 PE long_unwinding.
* Support (PE top OI): 90 (600), 100 (400); resistance (CE top OI): 120 (800), 110 (600).
* ATM: the strike nearest 101 is 100: straddle = 4 + 6 = 10; ATM IV = (20 + 22) / 2 = 21.
* All-expiry PCR per minute: 10:00 -> A + Sep = CE 1930+1000, PE 1160+500 -> 1660/2930;
  10:15 -> B + Sep (carried) = CE 1800+1000, PE 1250+500 -> 1750/2800 = 0.625; 2 expiries.
"""

from __future__ import annotations

import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from nsechain.analytics.views import VIEWS, create_views
from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA, duckdb_ddl
from nsechain.query import Desk, connect
from nsechain.store.tables import ensure_tables
from nsechain.timeutil import IST

DAY = date(2026, 8, 20)
E1, E2, E0 = date(2026, 8, 27), date(2026, 9, 24), date(2026, 8, 13)
TA = datetime(2026, 8, 20, 10, 0, 5, tzinfo=IST)
TB = datetime(2026, 8, 20, 10, 15, 5, tzinfo=IST)
T2 = datetime(2026, 8, 20, 10, 0, 20, tzinfo=IST)
T0 = datetime(2026, 8, 13, 15, 29, 0, tzinfo=IST)
STRIKES = (90.0, 100.0, 110.0, 120.0)

# per snapshot: {(strike, type): (oi, price, volume, iv)}
SNAP_A = {
    (90.0, "CE"): (80, 12.0, 5, 25.0),
    (100.0, "CE"): (250, 5.0, 10, 21.0),
    (110.0, "CE"): (700, 1.5, 15, 19.0),
    (120.0, "CE"): (900, 0.5, 20, 18.0),
    (90.0, "PE"): (600, 1.0, 30, 26.0),
    (100.0, "PE"): (350, 5.0, 15, 23.0),
    (110.0, "PE"): (150, 11.0, 8, 21.0),
    (120.0, "PE"): (60, 20.0, 2, 20.0),
}
SNAP_B = {
    (90.0, "CE"): (100, 13.0, 10, 25.0),
    (100.0, "CE"): (300, 4.0, 20, 20.0),
    (110.0, "CE"): (600, 2.0, 30, 19.0),
    (120.0, "CE"): (800, 0.4, 40, 18.0),
    (90.0, "PE"): (600, 1.0, 60, 26.0),
    (100.0, "PE"): (400, 6.0, 30, 22.0),
    (110.0, "PE"): (200, 10.0, 15, 21.0),
    (120.0, "PE"): (50, 19.0, 5, 20.0),
}
SNAP_SEP = {(100.0, "CE"): (1000, 8.0, 1, 18.0), (100.0, "PE"): (500, 7.0, 1, 19.0)}
SNAP_OLD = {(100.0, "CE"): (5000, 1.0, 1, 30.0), (100.0, "PE"): (9000, 1.0, 1, 30.0)}


def quotes(ts: datetime, expiry: date, legs: dict[tuple[float, str], tuple[Any, ...]]) -> pa.Table:
    """QUOTES_SCHEMA rows of one snapshot; bid/ask straddle the price by 0.05."""
    rows = [
        {
            "exchange_ts": ts,
            "fetched_at": ts + timedelta(seconds=1),
            "symbol": "TEST",
            "expiry": expiry,
            "strike": k,
            "option_type": side,
            "open_interest": float(oi),
            "change_in_oi": 0.0,
            "volume": vol,
            "iv": iv,
            "last_price": price,
            "bid_price": price - 0.05,
            "ask_price": price + 0.05,
            "underlying_value": 101.0,
        }
        for (k, side), (oi, price, vol, iv) in legs.items()
    ]
    return pa.Table.from_pylist(rows, schema=QUOTES_SCHEMA)


def fetches() -> pa.Table:
    spec = [
        (TA, "TEST", E1, "ok"),
        (T2, "TEST", E2, "ok"),
        (TA + timedelta(minutes=1), "TEST", E1, "stale"),
        (TA + timedelta(minutes=5), "TEST", E1, "timeout"),
        (TA + timedelta(minutes=6), "TEST", E1, "blocked"),
        (TB, "TEST", E1, "ok"),
        (TA - timedelta(minutes=1), None, None, "ok"),  # cookie bootstrap: no symbol
    ]
    rows = [
        {"fetched_at": ts, "symbol": s, "expiry": e, "endpoint": "option-chain-v3", "outcome": o}
        for ts, s, e, o in spec
    ]
    return pa.Table.from_pylist(rows, schema=FETCH_LOG_SCHEMA)


def build_db(path: Path, *, index: bool = False) -> Path:
    """A DuckDB file with the real DDL, the hand-made market above, and the views.

    ``index``: also the loader's tables, with ``loaded_snapshots`` listing every snapshot but
    the September one (which the desk must then still find in the quotes).
    """
    con = duckdb.connect(str(path))
    con.execute(duckdb_ddl("option_quotes", QUOTES_SCHEMA))
    con.execute(duckdb_ddl("fetch_log", FETCH_LOG_SCHEMA))
    if index:
        ensure_tables(con)
    for table in (
        quotes(T0, E0, SNAP_OLD),
        quotes(TA, E1, SNAP_A),
        quotes(TB, E1, SNAP_B),
        quotes(T2, E2, SNAP_SEP),
    ):
        con.register("new_rows", table)
        con.execute("INSERT INTO option_quotes SELECT * FROM new_rows")
        con.unregister("new_rows")
    con.register("new_rows", fetches())
    con.execute("INSERT INTO fetch_log SELECT * FROM new_rows")
    if index:
        con.execute(
            "INSERT INTO loaded_snapshots SELECT symbol, expiry, exchange_ts, 'hand', count(*)"
            " FROM option_quotes WHERE expiry <> $sep GROUP BY ALL",
            {"sep": E2},
        )
    create_views(con)
    con.close()
    return path


@pytest.fixture(params=[False, True], ids=["quotes-only", "loader-index"])
def db(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    return build_db(tmp_path / "hand.duckdb", index=request.param)


@pytest.fixture
def desk(db: Path) -> Desk:
    return connect(db)


def by_key(table: pa.Table, *keys: str) -> dict[Any, dict[str, Any]]:
    return {tuple(r[k] for k in keys): r for r in table.to_pylist()}


# --- snapshots and chains ----------------------------------------------------------------------


def test_nearest_live_expiry_and_latest_snapshot(desk: Desk) -> None:
    snap = desk.snapshot("test")  # symbols are case-insensitive
    # 2026-08-13 expired a week before the latest data; 08-27 is the nearest live expiry.
    assert (snap.symbol, snap.expiry, snap.exchange_ts) == ("TEST", E1, TB)
    assert desk.snapshot("TEST", at="2026-08-20 10:05").exchange_ts == TA
    assert desk.snapshot("TEST", E2).exchange_ts == T2


def test_missing_snapshot_is_a_lookup_error(desk: Desk) -> None:
    with pytest.raises(LookupError, match="NOPE"):
        desk.chain("NOPE")
    with pytest.raises(LookupError, match="no snapshot"):
        desk.chain("TEST", E1, at=datetime(2026, 8, 20, 9, 0, tzinfo=IST))


def test_chain_is_wide_like_nse(desk: Desk) -> None:
    chain = desk.chain("TEST")
    names = chain.column_names
    assert names.index("ce_open_interest") < names.index("strike") < names.index("pe_open_interest")
    assert chain.column("strike").to_pylist() == list(STRIKES)
    row = by_key(chain, "strike")[(100.0,)]
    assert (row["ce_open_interest"], row["ce_last_price"]) == (300.0, 4.0)
    assert (row["pe_open_interest"], row["pe_last_price"]) == (400.0, 6.0)
    assert chain.schema.field("exchange_ts").type.tz == "Asia/Kolkata"


def test_chain_at_an_earlier_time(desk: Desk) -> None:
    chain = desk.chain("TEST", E1, at=TA + timedelta(minutes=3))
    assert by_key(chain, "strike")[(90.0,)]["ce_open_interest"] == 80.0


def test_history_of_one_contract(desk: Desk) -> None:
    rows = desk.history("TEST", E1, 110, "ce", start=DAY, end=DAY)
    assert rows.column("exchange_ts").to_pylist() == [TA, TB]
    assert rows.column("open_interest").to_pylist() == [700.0, 600.0]
    assert desk.history("TEST", E1, 110, "CE", start=TB).num_rows == 1
    with pytest.raises(ValueError, match="CE or PE"):
        desk.history("TEST", E1, 110, "XX")


# --- ratios and levels -------------------------------------------------------------------------


def test_pcr_of_one_expiry_per_snapshot(desk: Desk) -> None:
    pcr = desk.pcr("TEST", E1)
    assert pcr.column("exchange_ts").to_pylist() == [TA, TB]
    b = pcr.to_pylist()[1]
    assert (b["ce_oi"], b["pe_oi"]) == (1800.0, 1250.0)
    assert b["pcr_oi"] == pytest.approx(1250 / 1800)
    assert (b["ce_volume"], b["pe_volume"]) == (100, 110)
    assert b["pcr_volume"] == pytest.approx(1.1)


def test_pcr_over_all_expiries_carries_each_expiry_forward(desk: Desk) -> None:
    pcr = desk.pcr("TEST", start=DAY, end=DAY).to_pylist()
    assert [r["exchange_ts"] for r in pcr] == [
        datetime(2026, 8, 20, 10, 0, tzinfo=IST),
        datetime(2026, 8, 20, 10, 15, tzinfo=IST),
    ]
    assert [r["expiries"] for r in pcr] == [2, 2]
    assert (pcr[0]["ce_oi"], pcr[0]["pe_oi"]) == (2930.0, 1660.0)
    assert (pcr[1]["ce_oi"], pcr[1]["pe_oi"]) == (2800.0, 1750.0)
    assert pcr[1]["pcr_oi"] == pytest.approx(0.625)


def test_pcr_of_an_empty_range_is_empty(desk: Desk) -> None:
    assert desk.pcr("TEST", E1, start="2026-08-21").num_rows == 0


def test_max_pain_by_hand(desk: Desk) -> None:
    row = desk.max_pain("TEST").to_pylist()[0]
    assert (row["max_pain"], row["total_pain"], row["strikes"]) == (100.0, 4000.0, 4)


def test_max_pain_series(desk: Desk) -> None:
    series = desk.max_pain_series("TEST", E1, start=DAY, end=DAY)
    # Snapshot A: pain(90) = 350*10+150*20+60*30 = 8300, pain(100) = 80*10+150*10+60*20 = 3500,
    # pain(110) = 80*20+250*10+60*10 = 4700, pain(120) = 80*30+250*20+700*10 = 14400.
    assert series.column("max_pain").to_pylist() == [100.0, 100.0]
    assert series.column("total_pain").to_pylist() == [3500.0, 4000.0]


def test_oi_buildup_by_hand(desk: Desk) -> None:
    table = desk.oi_buildup("TEST", E1, window=timedelta(minutes=15))
    got = {(r["strike"], r["option_type"]): r["buildup"] for r in table.to_pylist()}
    assert got == {
        (90.0, "CE"): "long_buildup",
        (100.0, "CE"): "short_buildup",
        (110.0, "CE"): "short_covering",
        (120.0, "CE"): "long_unwinding",
        (90.0, "PE"): "neutral",
        (100.0, "PE"): "long_buildup",
        (110.0, "PE"): "short_buildup",
        (120.0, "PE"): "long_unwinding",
    }
    row = by_key(table, "strike", "option_type")[(100.0, "CE")]
    assert (row["prev_ts"], row["exchange_ts"], row["oi_change"]) == (TA, TB, 50.0)
    assert row["price_change"] == pytest.approx(-1.0)


def test_oi_buildup_window_in_snapshots_and_too_long(desk: Desk) -> None:
    assert desk.oi_buildup("TEST", E1, window=1).num_rows == 8
    assert desk.oi_buildup("TEST", E1, window=2).num_rows == 0  # only one earlier snapshot
    assert desk.oi_buildup("TEST", E1, window=timedelta(hours=1)).num_rows == 0


def test_support_and_resistance(desk: Desk) -> None:
    levels = desk.support_resistance("TEST", E1, n=2).to_pylist()
    got = [(r["level"], r["rank"], r["strike"], r["open_interest"]) for r in levels]
    assert got == [
        ("support", 1, 90.0, 600.0),
        ("support", 2, 100.0, 400.0),
        ("resistance", 1, 120.0, 800.0),
        ("resistance", 2, 110.0, 600.0),
    ]


def test_atm_straddle_and_iv(desk: Desk) -> None:
    row = desk.atm("TEST").to_pylist()[0]
    assert (row["atm_strike"], row["spot"]) == (100.0, 101.0)
    assert row["straddle"] == pytest.approx(10.0)
    assert row["atm_iv"] == pytest.approx(21.0)


def test_iv_smile_and_greeks(desk: Desk) -> None:
    smile = desk.iv_smile("TEST", E1)
    assert smile.column("strike").to_pylist() == list(STRIKES)
    assert smile.column("ce_nse_iv").to_pylist()[1] == 20.0
    greeks = desk.greeks("TEST", E1)
    assert greeks.num_rows == 8
    assert set(greeks.column("forward_source").to_pylist()) == {"parity"}


# --- fetch log ---------------------------------------------------------------------------------


def test_fetch_quality(desk: Desk) -> None:
    report = by_key(desk.fetch_quality(), "symbol")
    test = report[("TEST",)]
    assert (test["fetches"], test["ok"], test["stale"], test["timeout"], test["blocked"]) == (
        6,
        3,
        1,
        1,
        1,
    )
    assert test["failures"] == 2
    assert test["max_gap_s"] == pytest.approx(900.0)  # 10:00:05 -> 10:15:05 for 08-27
    assert (test["max_gap_expiry"], test["max_gap_after"]) == (E1, TA)
    assert report[(None,)]["fetches"] == 1
    assert desk.fetch_quality(start="2026-08-21").num_rows == 0


# --- views and connections ---------------------------------------------------------------------


def test_views_agree_with_the_desk(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        latest = con.sql("SELECT DISTINCT expiry FROM latest_chain ORDER BY 1").fetchall()
        assert latest == [(E1,), (E2,)]  # 08-13 expired before the latest day
        wide = con.execute("SELECT count(*) FROM chain_wide WHERE expiry = $e", {"e": E1})
        assert wide.fetchall()[0] == (8,)  # 4 strikes x 2 snapshots
        pcr = con.sql(
            "SELECT pcr_oi FROM pcr WHERE expiry = $e ORDER BY exchange_ts", params={"e": E1}
        )
        assert [r[0] for r in pcr.fetchall()][-1] == pytest.approx(1250 / 1800)
        pain = con.sql(
            "SELECT max_pain, total_pain FROM max_pain WHERE expiry = $e", params={"e": E1}
        )
        assert pain.fetchall() == [(100.0, 3500.0), (100.0, 4000.0)]
        build = con.sql(
            "SELECT buildup FROM oi_buildup WHERE strike = 110 AND option_type = 'CE'"
        ).fetchall()
        assert build == [("short_covering",)]
    finally:
        con.close()


def test_create_views_is_idempotent(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        create_views(con)
        create_views(con)
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
        assert set(VIEWS) <= names
    finally:
        con.close()


def test_desk_on_an_open_cursor(db: Path) -> None:
    # The in-process dashboard shares the collector's connection: it passes a cursor.
    con = duckdb.connect(str(db))
    try:
        desk = Desk(con.cursor())
        assert desk.max_pain("TEST").column("max_pain").to_pylist() == [100.0]
        desk.close()  # not ours: must leave the connection open
        assert con.execute("SELECT count(*) FROM option_quotes").fetchall()[0] == (20,)
    finally:
        con.close()


def test_desk_does_not_hold_the_file_between_calls(db: Path) -> None:
    desk = connect(db, linger_s=0)  # no lingering: closed after each call
    desk.chain("TEST")
    writer = duckdb.connect(str(db))  # would fail if the desk still held a read lock
    writer.close()
    with connect(db, hold=True) as held:
        assert held.chain("TEST").num_rows == 4


def _wait_closed(desk: Desk, db: Path, within_s: float = 5.0) -> None:
    """A writer in this process can open the file (the desk's connection is gone)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            duckdb.connect(str(db)).close()
            return
        except duckdb.ConnectionException:  # the read-only one is still open here
            assert time.monotonic() < deadline, "the desk kept the file"
            time.sleep(0.01)


def test_desk_reuses_its_connection_while_calls_follow(db: Path) -> None:
    desk = connect(db, linger_s=30)
    for _ in range(3):
        assert desk.chain("TEST").num_rows == 4
    desk.max_pain("TEST")
    assert desk.opens == 1  # one open for the check at connect and four calls
    desk.close()
    _wait_closed(desk, db, within_s=0)


def test_a_call_inside_another_shares_its_connection(db: Path) -> None:
    desk = connect(db, linger_s=30)
    with desk._session() as outer:  # e.g. a method that calls another one
        assert desk.chain("TEST").num_rows == 4  # no deadlock, and the outer one still works
        assert outer.execute("SELECT 1").fetchall() == [(1,)]
    assert desk.opens == 1
    desk.close()


def test_lingering_connection_closes_when_idle(db: Path) -> None:
    desk = connect(db, linger_s=0.05)
    desk.chain("TEST")
    _wait_closed(desk, db)
    assert desk.chain("TEST").num_rows == 4  # and opens again for the next call
    assert desk.opens == 2


def test_lingering_connection_gives_way_to_a_load_flag(db: Path) -> None:
    from nsechain.store.loadflag import load_wanted

    desk = connect(db, linger_s=30)
    desk.chain("TEST")
    with load_wanted(db):  # this process is alive: its flag counts
        _wait_closed(desk, db)  # within a poll, not the 30 s linger
    assert desk.chain("TEST").num_rows == 4
    assert desk.opens == 2


def test_lingering_connection_reopens_a_replaced_file(db: Path, tmp_path: Path) -> None:
    desk = connect(db, linger_s=30)
    desk.chain("TEST")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    copy.replace(db)  # `rebuild` moves a damaged file aside: a new inode under the same name
    assert desk.chain("TEST").num_rows == 4
    assert desk.opens == 2
    desk.close()


def test_missing_database_says_so(tmp_path: Path) -> None:
    from nsechain.errors import StorageError

    with pytest.raises(StorageError, match="no such database"):
        connect(tmp_path / "absent.duckdb")


def test_export_parquet_and_csv(desk: Desk, tmp_path: Path) -> None:
    out = tmp_path / "day.parquet"
    assert desk.export(out, start=DAY, end=DAY, symbols=["test"]) == 18  # 8 + 8 + 2 rows
    assert duckdb.execute("SELECT count(*) FROM read_parquet($f)", {"f": str(out)}).fetchall()[
        0
    ] == (18,)
    assert desk.export(tmp_path / "all.csv", fmt="csv") == 20  # and the expired 08-13 pair
    assert desk.export(tmp_path / "none.csv", fmt="csv", symbols=["OTHER"]) == 0
    with pytest.raises(ValueError, match="format"):
        desk.export(tmp_path / "x.json", fmt="json")
