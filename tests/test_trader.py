"""The trader's desk, checked by hand: window ΔOI, GEX, steady PCR, IV rank, greeks views.

A 3-strike chain of symbol TRD (spot 100, expiry 2026-08-27), recorded Thursday 2026-08-20
(IST) at 09:15:05 (O, the open), 10:00:05 (A) and 10:15:05 (B):

    strike | CE OI  O / A / B | PE OI  O / A / B
      90   |   100 / 120 / 150 |   500 / 520 / 560
     100   |   300 / 330 / 310 |   400 / 450 / 470
     110   |   800 / 760 / 790 |    50 /  60 /  40

By hand, window ending at B:
* since the open (O -> B): CE +50, +10, -10; PE +60, +70, -10;
* last 15 minutes (A -> B): CE +30, -20, +30; PE +40, +20, -20;
* last 5 minutes: the latest snapshot at or before 10:10:05 is A, so the same as 15 minutes;
* last 60 minutes reaches before the open: it starts at the day's first snapshot (O).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from nsechain.analytics import positioning as pos
from nsechain.analytics.views import create_views
from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA, duckdb_ddl
from nsechain.query import Desk, connect
from nsechain.timeutil import IST
from test_query import build_db

EXP = date(2026, 8, 27)
TO = datetime(2026, 8, 20, 9, 15, 5, tzinfo=IST)
TA = datetime(2026, 8, 20, 10, 0, 5, tzinfo=IST)
TB = datetime(2026, 8, 20, 10, 15, 5, tzinfo=IST)
OI = {  # strike: (CE O, A, B), (PE O, A, B)
    90.0: ((100, 120, 150), (500, 520, 560)),
    100.0: ((300, 330, 310), (400, 450, 470)),
    110.0: ((800, 760, 790), (50, 60, 40)),
}


def _rows(ts: datetime, i: int) -> list[dict[str, Any]]:
    rows = []
    for k, sides in OI.items():
        for side, ois in zip(("CE", "PE"), sides, strict=True):
            price = max(100 - k, 0) + 3 if side == "CE" else max(k - 100, 0) + 3
            rows.append(
                {
                    "exchange_ts": ts,
                    "fetched_at": ts + timedelta(seconds=1),
                    "symbol": "TRD",
                    "expiry": EXP,
                    "strike": k,
                    "option_type": side,
                    "open_interest": float(ois[i]),
                    "volume": 10 * (i + 1),
                    "iv": 20.0,
                    "last_price": price + i,
                    "bid_price": price + i - 0.05,
                    "ask_price": price + i + 0.05,
                    "total_buy_qty": 650 * (i + 2),
                    "total_sell_qty": 325 * (i + 3),
                    "underlying_value": 100.0,
                }
            )
    return rows


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    path = tmp_path / "trd.duckdb"
    con = duckdb.connect(str(path))
    con.execute(duckdb_ddl("option_quotes", QUOTES_SCHEMA))
    con.execute(duckdb_ddl("fetch_log", FETCH_LOG_SCHEMA))
    rows = [r for i, ts in enumerate((TO, TA, TB)) for r in _rows(ts, i)]
    con.register("new_rows", pa.Table.from_pylist(rows, schema=QUOTES_SCHEMA))
    con.execute("INSERT INTO option_quotes SELECT * FROM new_rows")
    create_views(con)
    con.close()
    return connect(path)


def _changes(table: pa.Table) -> tuple[list[Any], list[Any]]:
    return table.column("ce_oi_change").to_pylist(), table.column("pe_oi_change").to_pylist()


def test_window_oi_change_on_a_three_strike_chain(desk: Desk) -> None:
    since_open = desk.oi_window("TRD", EXP, TB, "open")
    assert since_open.column("strike").to_pylist() == [90.0, 100.0, 110.0]
    assert _changes(since_open) == ([50, 10, -10], [60, 70, -10])
    assert since_open.column("from_ts")[0].as_py() == TO
    last15 = desk.oi_window("TRD", EXP, TB, 15)
    assert _changes(last15) == ([30, -20, 30], [40, 20, -20])
    assert last15.column("from_ts")[0].as_py() == TA
    assert _changes(desk.oi_window("TRD", EXP, TB, 5)) == _changes(last15)
    assert desk.oi_window("TRD", EXP, TB, 60).column("from_ts")[0].as_py() == TO
    between = desk.oi_window("TRD", EXP, TA, TO)  # between two times: O -> A
    assert _changes(between) == ([20, 30, -40], [20, 50, 10])


def test_window_since_a_time_of_day_merged_into_chain_rows(desk: Desk) -> None:
    """'HH:MM' is that time on the snapshot's IST day (the CLI's ``show --since`` and the web
    chain's ``since`` both merge the window into the wide rows through one function)."""
    from nsechain.analytics.trader import merge_oi_window

    assert _changes(desk.oi_window("TRD", EXP, TB, "10:05")) == ([30, -20, 30], [40, 20, -20])
    snap = desk.snapshot("TRD", EXP, TB)
    rows = desk.chain("TRD", EXP, TB).to_pylist()
    start = merge_oi_window(desk, snap, rows, "09:30", ("ce_change_in_oi", "pe_change_in_oi"))
    assert start == TO  # the latest snapshot at or before 09:30 is the open's
    assert [r["ce_change_in_oi"] for r in rows] == [50, 10, -10]
    assert [r["pe_change_in_oi"] for r in rows] == [60, 70, -10]


def test_window_views_and_macro_agree(desk: Desk) -> None:
    rows = desk.sql(
        "SELECT strike, option_type, oi_change_since_open, oi_change_15m FROM oi_window"
        " WHERE exchange_ts = $ts ORDER BY option_type, strike",
        {"ts": TB},
    ).to_pylist()
    assert [r["oi_change_since_open"] for r in rows] == [50, 10, -10, 60, 70, -10]
    assert [r["oi_change_15m"] for r in rows] == [30, -20, 30, 40, 20, -20]
    macro = desk.sql(
        "SELECT oi_change FROM oi_between('TRD', $e, $t0, $t1) ORDER BY option_type, strike",
        {"e": EXP, "t0": TA, "t1": TB},
    )
    assert macro.column("oi_change").to_pylist() == [30, -20, 30, 40, 20, -20]


def test_strike_through_the_day(desk: Desk) -> None:
    day = desk.strike_day("TRD", EXP, 100.0)
    assert day.column("ce_oi").to_pylist() == [300, 330, 310]
    assert day.column("pe_ltp").to_pylist() == [3.0, 4.0, 5.0]
    assert day.column("ce_iv").to_pylist() == [20.0, 20.0, 20.0]


def test_chain_greeks_and_the_sql_view(desk: Desk) -> None:
    wide = desk.chain_greeks("TRD", EXP, TB)
    atm = wide.filter(pa.compute.equal(wide.column("strike"), 100.0)).to_pylist()[0]
    # At the money, delta is about +/-0.5 and gamma/vega equal on both sides.
    assert 0.45 < atm["ce_delta"] < 0.6 and -0.55 < atm["pe_delta"] < -0.4
    assert atm["ce_gamma"] == pytest.approx(atm["pe_gamma"], rel=0.05)
    assert atm["ce_theta"] < 0 and atm["ce_vega"] > 0
    view = desk.sql(
        "SELECT option_type, delta, gamma FROM option_greeks"
        " WHERE exchange_ts = $ts AND strike = 100 ORDER BY option_type",
        {"ts": TB},
    ).to_pylist()
    # Same Black-76 at NSE's 20 % IV: N(d1) with d1 = (rT + s^2 T/2)/(s sqrt T), T = 7 days.
    t = (datetime(2026, 8, 27, 15, 30, tzinfo=IST) - TB).total_seconds() / (365 * 86400)
    d1 = (0.065 * t + 0.5 * 0.04 * t) / (0.2 * np.sqrt(t))
    from scipy.special import ndtr  # type: ignore[import-untyped]

    assert view[0]["delta"] == pytest.approx(np.exp(-0.065 * t) * ndtr(d1), abs=1e-6)
    assert view[1]["delta"] == pytest.approx(-np.exp(-0.065 * t) * ndtr(-d1), abs=1e-6)


def test_chain_greeks_holds_exactly_the_chain(desk: Desk) -> None:
    # The wide half is pivoted from the rows already read, not read again: it must be the
    # very table Desk.chain (CHAIN_WIDE_SQL) gives, here and with a strike quoting one leg.
    for at in (TO, TA, TB):
        chain = desk.chain("TRD", EXP, at)
        assert desk.chain_greeks("TRD", EXP, at).select(chain.column_names).equals(chain)
    quotes = desk.quotes("TRD", EXP, TB)
    one_leg = quotes.filter(
        pa.compute.invert(
            pa.compute.and_(
                pa.compute.equal(quotes.column("strike"), 110.0),
                pa.compute.equal(quotes.column("option_type"), "PE"),
            )
        )
    )
    wide = pos.wide_chain(one_leg).to_pylist()
    assert [r["strike"] for r in wide] == [90.0, 100.0, 110.0]
    assert wide[2]["pe_open_interest"] is None and wide[2]["ce_open_interest"] == 790
    assert wide[2]["underlying_value"] == 100.0 and wide[2]["symbol"] == "TRD"


def test_gex_sign_and_magnitude_worked_example() -> None:
    # Strike 100: CE OI 10 lots, PE OI 4 lots, gamma 0.02 each; lot 50, spot 100.
    # CE: +0.02 * 10 * 50 * 100^2 * 0.01 = +1000 rupees per 1 % move; PE: -400; total +600.
    k, ce, pe = pos.gex_by_strike(
        np.array([100.0, 100.0, 110.0]),
        np.array([True, False, True]),
        np.array([0.02, 0.02, np.nan]),
        np.array([10.0, 4.0, 7.0]),
        50,
        100.0,
    )
    assert k.tolist() == [100.0, 110.0]
    assert ce.tolist() == pytest.approx([1000.0, 0.0])
    assert pe.tolist() == pytest.approx([-400.0, 0.0])
    assert float((ce + pe).sum()) == pytest.approx(600.0)


def test_gex_from_the_desk_uses_the_lot_size(desk: Desk) -> None:
    out = desk.gex("TRD", EXP, TB)
    assert out["lot"] == 325  # gcd of 650*k and 325*k quantities
    by = out["by_strike"]
    assert by.column("ce_gex").to_pylist()[1] > 0 > by.column("pe_gex").to_pylist()[1]
    assert out["total"] == pytest.approx(sum(by.column("gex").to_pylist()))


def test_straddle_premium_and_vwap() -> None:
    # Premium 10, 12, 11; day volumes (CE+PE) 100, 150, 150, 250: weights 100, 50, 0, 100.
    premium, vwap = pos.straddle_vwap(
        np.array([5.0, 6.0, 5.5, 7.0]),
        np.array([5.0, 6.0, 5.5, 6.0]),
        np.array([60.0, 90.0, 90.0, 150.0]),
        np.array([40.0, 60.0, 60.0, 100.0]),
    )
    assert premium.tolist() == [10.0, 12.0, 11.0, 13.0]
    assert vwap.tolist() == pytest.approx([10.0, 1600 / 150, 1600 / 150, 2900 / 250])


def test_straddle_from_the_desk(desk: Desk) -> None:
    s = desk.straddle("TRD", EXP)
    assert s.column("ce_strike")[0].as_py() == 100.0
    assert s.column("premium").to_pylist() == [6.0, 8.0, 10.0]
    strangle = desk.straddle("TRD", EXP, width=1)
    assert (strangle["ce_strike"][0].as_py(), strangle["pe_strike"][0].as_py()) == (110.0, 90.0)


def test_iv_rank_on_a_small_series() -> None:
    # History 10, 20, 15, 30, 25; current 25: rank (25-10)/(30-10) = 75 %,
    # percentile: 3 of 5 strictly below (10, 20, 15) = 60 %.
    r = pos.iv_rank(np.array([10.0, 20.0, 15.0, 30.0, 25.0]), 25.0)
    assert r is not None
    assert (r.rank, r.percentile, r.low, r.high, r.observations) == (75.0, 60.0, 10, 30, 5)
    assert pos.iv_rank(np.array([np.nan]), 20.0) is None
    flat = pos.iv_rank(np.array([20.0, 20.0]), 20.0)
    assert flat is not None and flat.rank == 50.0


def test_iv_rank_and_term_structure_from_the_desk(desk: Desk) -> None:
    r = desk.iv_rank("TRD")
    assert r["days"] == 1 and r["rank"]["observations"] == 3
    ts = desk.term_structure("TRD")
    assert ts.column("atm_strike").to_pylist() == [100.0]
    assert ts.column("days").to_pylist() == [7]
    assert ts.column("straddle").to_pylist() == [10.0]
    surf = desk.surface("TRD")
    assert surf.num_rows == 3 and surf.column("iv").null_count == 0


M0 = 1_786_000_000 // 60 * 60  # a whole minute (epoch seconds)


def test_pcr_does_not_jump_when_an_expiry_appears_mid_session() -> None:
    # Two expiries from the start (CE 100 + 200, PE 80 + 120 -> PCR 0.6667 all along),
    # a third (CE 1000, PE 100) first seen 40 minutes in: 'constant' keeps 2 expiries.
    day, e1, e2, e3 = 20_685, 20_692, 20_720, 20_750
    snaps = [
        (0, e1, 100, 80),
        (0, e2, 200, 120),
        (1, e1, 100, 80),
        (2, e2, 200, 120),
        (40, e3, 1000, 100),
        (41, e1, 100, 80),
    ]
    minute = np.array([M0 + 60 * m for m, *_ in snaps], dtype=np.int64)
    expiry = np.array([e for _, e, *_ in snaps], dtype=np.int64)
    values = np.array([[c, p, 1, 1] for *_, c, p in snaps], dtype=np.float64)
    days = np.full(len(snaps), day, dtype=np.int64)
    steady = pos.steady_pcr(days, minute, expiry, values, basis="constant")
    assert steady["expiries"].tolist() == [2] * 5
    assert (steady["pe_oi"] / steady["ce_oi"]).tolist() == pytest.approx([200 / 300] * 5)
    ffill = pos.steady_pcr(days, minute, expiry, values, basis="ffill")
    assert ffill["expiries"].tolist() == [2, 2, 2, 3, 3]  # says the set grew
    with pytest.raises(ValueError, match="basis"):
        pos.steady_pcr(days, minute, expiry, values, basis="nope")


def test_pcr_constant_waits_for_the_set_and_ffill_crosses_days() -> None:
    # e2 first seen 3 minutes after e1 (within the settle window): rows start at minute 3.
    day, e1, e2 = 20_685, 20_692, 20_720
    minute = np.array([M0, M0 + 180, M0 + 86_400], dtype=np.int64)
    expiry = np.array([e1, e2, e1], dtype=np.int64)
    values = np.array([[100, 50, 0, 0], [100, 150, 0, 0], [100, 60, 0, 0]], dtype=np.float64)
    days = np.array([day, day, day + 1], dtype=np.int64)
    steady = pos.steady_pcr(days, minute, expiry, values)
    assert steady["minute"].tolist() == [M0 + 180, M0 + 86_400]
    assert steady["expiries"].tolist() == [2, 1]  # next day: only e1 recorded
    ffill = pos.steady_pcr(days, minute, expiry, values, basis="ffill")
    assert ffill["expiries"].tolist() == [1, 2, 2]  # e2 carried into the next day
    assert ffill["pe_oi"].tolist() == [50, 200, 210]


def test_pcr_steady_from_the_desk(tmp_path: Path) -> None:
    hand = connect(build_db(tmp_path / "hand.duckdb"))
    out = hand.pcr_steady("TEST", "2026-08-20", "2026-08-20")
    assert set(out.column("basis").to_pylist()) == {"constant"}
    assert out.column("expiries").to_pylist() == [2, 2]
    assert out.column("pcr_oi").to_pylist() == pytest.approx([1660 / 2930, 1750 / 2800])
