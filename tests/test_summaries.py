"""The loader's per-snapshot ATM rows (``snapshot_atm``): exact, exactly once, upgraded.

``atm_by_hand`` recomputes the ATM rule in plain Python from the quote rows (strikes within
5 % of the spot; those quoting both legs' prices first, then the nearest, then the lower), so
the stored table is checked against an independent reading of the rule, not against itself.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from nsechain.analytics import positioning as pos
from nsechain.analytics.greeks import chain_greeks
from nsechain.analytics.smile import smile_table
from nsechain.chaos.checks import check_store
from nsechain.contract import QUOTES_SCHEMA
from nsechain.query import connect
from nsechain.store.files import write_tick
from nsechain.store.loader import Loader
from nsechain.store.summaries import SNAPSHOT_ATM
from nsechain.timeutil import IST
from test_store import Dirs, fetch_log

T0 = datetime(2026, 11, 11, 9, 16, tzinfo=IST)
EXP = date(2026, 11, 17)
EXP2 = date(2026, 11, 24)

Key = tuple[str, date, datetime]


@pytest.fixture
def d(tmp_path: Path) -> Dirs:
    return Dirs(tmp_path)


def atm_by_hand(rows: list[dict[str, Any]]) -> dict[Key, tuple[Any, ...]]:
    """(spot, atm_strike, straddle, atm_iv) of every snapshot in ``rows``."""
    legs: dict[Key, dict[float, dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        key = (r["symbol"], r["expiry"], r["exchange_ts"])
        legs[key]  # every snapshot gets a row, even one with no strike near the spot
        uv = r["underlying_value"]
        if uv is not None and abs(r["strike"] - uv) <= 0.05 * uv:
            legs[key][r["strike"]][r["option_type"]] = r
    out: dict[Key, tuple[Any, ...]] = {}
    for key, strikes in legs.items():
        best = None
        for k, sides in strikes.items():
            spot = max(s["underlying_value"] for s in sides.values())
            ce, pe = (sides.get(t, {}).get("last_price") for t in ("CE", "PE"))
            ce_iv, pe_iv = (sides.get(t, {}).get("iv") or None for t in ("CE", "PE"))
            order = (ce is None or pe is None, abs(k - spot), k)
            iv = (
                None
                if ce_iv is None and pe_iv is None
                else ((ce_iv or pe_iv) + (pe_iv or ce_iv)) / 2
            )
            row = (spot, k, None if ce is None or pe is None else ce + pe, iv)
            if best is None or order < best[0]:
                best = (order, row)
        out[key] = best[1] if best else (None, None, None, None)
    return out


def stored_matches_quotes(db: Path) -> int:
    """Assert ``snapshot_atm`` is the hand-computed ATM of every loaded snapshot; the count."""
    with duckdb.connect(str(db), read_only=True) as con:
        quotes = con.sql("SELECT * FROM option_quotes").to_arrow_table().to_pylist()
        stored = con.sql(f"SELECT * FROM {SNAPSHOT_ATM}").to_arrow_table().to_pylist()
        listed = con.sql(
            "SELECT DISTINCT symbol, expiry, exchange_ts FROM loaded_snapshots"
        ).fetchall()
    want = atm_by_hand(quotes)
    got = {
        (r["symbol"], r["expiry"], r["exchange_ts"]): tuple(
            r[c] for c in ("spot", "atm_strike", "straddle", "atm_iv")
        )
        for r in stored
    }
    assert len(got) == len(stored) == len(listed)  # one row per snapshot, none twice
    assert set(got) == {tuple(r) for r in listed} == set(want)
    for key, row in want.items():
        assert got[key] == pytest.approx(row), key
    return len(got)


def chain(symbol: str, expiry: date, ts: datetime, spot: float, **kw: Any) -> list[dict[str, Any]]:
    """Five strikes, 50 apart, around 24,100; CE/PE prices and IVs that differ per strike."""
    rows = []
    for i, k in enumerate(24_000.0 + 50 * n for n in range(5)):
        for side in ("CE", "PE"):
            rows.append(
                {
                    "exchange_ts": ts,
                    "fetched_at": ts + timedelta(seconds=2),
                    "symbol": symbol,
                    "expiry": expiry,
                    "strike": k,
                    "option_type": side,
                    "open_interest": 100.0 * (i + 1),
                    "iv": 14.0 + i + (0.5 if side == "PE" else 0.0),
                    "last_price": 50.0 + i if side == "CE" else 60.0 - i,
                    "underlying_value": spot,
                    **kw,
                }
            )
    return rows


def write(pending: Path, at: datetime, rows: list[dict[str, Any]]) -> Path:
    table = pa.Table.from_pylist(rows, schema=QUOTES_SCHEMA)
    snaps = sorted({(r["symbol"], r["expiry"], r["exchange_ts"]) for r in rows})
    return write_tick(pending, at, table, fetch_log(snaps))


def test_the_loader_stores_one_atm_row_per_snapshot_exactly_once(d: Dirs) -> None:
    t1 = T0 + timedelta(minutes=1)
    one_leg = [
        r
        for r in chain("NIFTY", EXP, t1, 24_110.0)
        if (r["strike"], r["option_type"]) != (24_100.0, "PE")
    ]
    write(d.pending, T0, chain("NIFTY", EXP, T0, 24_060.0) + chain("NIFTY", EXP2, T0, 24_060.0))
    write(d.pending, t1, one_leg + chain("M&M", EXP, t1, 30_000.0))  # M&M: nothing within 5 %
    # The same T0 snapshot again, in a later file: loaded once, so its ATM row once.
    write(d.pending, t1 + timedelta(minutes=1), chain("NIFTY", EXP, T0, 24_060.0))
    Loader(d.db, d.pending, d.processed, d.quarantine).load_pending()
    assert stored_matches_quotes(d.db) == 4
    with duckdb.connect(str(d.db), read_only=True) as con:
        rows = con.sql(
            f"SELECT symbol, exchange_ts, atm_strike, straddle, atm_iv FROM {SNAPSHOT_ATM}"
            " WHERE expiry = ? ORDER BY exchange_ts, symbol",
            params=[EXP],
        ).fetchall()
    # Spot 24,060: strike 24,050 (i = 1): CE 51 + PE 59, IV (15 + 15.5) / 2. At t1 spot
    # 24,110: 24,100 quotes no PE, so the both-legged 24,150 wins over the nearer one.
    assert [r[2:] for r in rows] == [
        (24_050.0, 110.0, 15.25),
        (None, None, None),
        (24_150.0, 110.0, 17.25),
    ]


def test_an_older_database_gets_the_table_and_its_rows_once(d: Dirs) -> None:
    write(d.pending, T0, chain("NIFTY", EXP, T0, 24_060.0))
    Loader(d.db, d.pending, d.processed, d.quarantine).load_pending()
    with duckdb.connect(str(d.db)) as con:  # as the loader before snapshot_atm left it
        con.execute(f"DROP TABLE {SNAPSHOT_ATM}")
    t1 = T0 + timedelta(minutes=1)
    write(d.pending, t1, chain("NIFTY", EXP, t1, 24_110.0))
    Loader(d.db, d.pending, d.processed, d.quarantine).load_pending()
    assert stored_matches_quotes(d.db) == 2


def test_iv_rank_and_term_structure_read_the_same_from_the_table_or_the_quotes(d: Dirs) -> None:
    for m in range(4):
        at = T0 + timedelta(minutes=m)
        spot = 24_060.0 + 20 * m
        write(d.pending, at, chain("NIFTY", EXP, at, spot) + chain("NIFTY", EXP2, at, spot))
    Loader(d.db, d.pending, d.processed, d.quarantine).load_pending()
    with connect(d.db) as desk:
        rank, term = desk.iv_rank("NIFTY"), desk.term_structure("NIFTY")
        surface = desk.surface("NIFTY")  # reads only the latest snapshot of each expiry
        latest = desk.snapshot("NIFTY", EXP2).exchange_ts
        assert surface.num_rows == 10 and set(surface.column("expiry").to_pylist()) == {EXP, EXP2}
        assert surface.equals(desk.surface("NIFTY", at=latest))
        # One pass over all expiries gives what the smile of each expiry gives.
        for exp in (EXP, EXP2):
            smile = smile_table(desk.greeks("NIFTY", exp))
            one = surface.filter(pa.compute.equal(surface.column("expiry"), exp))
            assert one.column("strike").equals(smile.column("strike"))
            assert one.column("iv").to_pylist() == pytest.approx(smile["smile_iv"].to_pylist())
            assert one["log_moneyness"].to_pylist() == pytest.approx(
                smile["log_moneyness"].to_pylist()
            )
        empty = pos.surface_table(chain_greeks(desk.quotes("NIFTY").slice(0, 0)))
        assert empty.num_rows == 0 and empty.column_names == surface.column_names
    with duckdb.connect(str(d.db)) as con:
        con.execute(f"DELETE FROM {SNAPSHOT_ATM} WHERE exchange_ts = ?", [T0])  # not covered
    with connect(d.db) as desk:
        rank2, term2 = desk.iv_rank("NIFTY"), desk.term_structure("NIFTY")
    assert rank.pop("series").equals(rank2.pop("series")) and rank == rank2
    assert term.equals(term2) and term.num_rows == 2


def test_the_chaos_checker_sees_a_missing_or_doubled_atm_row(tmp_path: Path) -> None:
    d = Dirs(tmp_path)
    d.db = tmp_path / "data" / "chain.duckdb"
    write(d.pending, T0, chain("NIFTY", EXP, T0, 24_060.0) + chain("NIFTY", EXP2, T0, 24_060.0))
    Loader(d.db, d.pending, d.processed, d.quarantine).load_pending()
    assert check_store(tmp_path / "data", d.db).ok
    with duckdb.connect(str(d.db)) as con:
        con.execute(f"DELETE FROM {SNAPSHOT_ATM} WHERE expiry = ?", [EXP])
        con.execute(f"INSERT INTO {SNAPSHOT_ATM} SELECT * FROM {SNAPSHOT_ATM}")  # EXP2 twice
    report = check_store(tmp_path / "data", d.db)
    assert report.atm_mismatch == 2 and not report.ok
    assert "2 snapshots without exactly one snapshot_atm row" in report.problems()
