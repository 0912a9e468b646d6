"""The trader's desk: greeks in the chain, OI over a window, expiries side by side, GEX.

Where it sits: under ``nsechain.query.Desk`` (which exposes each function as a method) and
so under the CLI and the web service; written against ``analytics.desk_types.DeskReader``
(the Desk's ``snapshot`` and ``sql``), so imports point down and mypy checks every call. Each
function looks its snapshot up once, reads only its rows, and hands Arrow/numpy to
``analytics/positioning.py`` (pure) or ``analytics/greeks.py``. Times are aware datetimes
(IST shown).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsechain.analytics import positioning as pos
from nsechain.analytics import queries
from nsechain.analytics import trader_sql as tsql
from nsechain.analytics.db import When, as_instant
from nsechain.analytics.desk_types import DeskReader, Snapshot
from nsechain.analytics.greeks import DEFAULT_RATE, chain_greeks
from nsechain.analytics.sql import PCR_SQL, compose
from nsechain.timeutil import IST

__all__ = [
    "GREEK_COLUMNS",
    "Since",
    "chain_with_greeks",
    "gex",
    "iv_rank",
    "merge_oi_window",
    "oi_window",
    "steady_pcr",
    "straddle",
    "strike_day",
    "surface",
    "term_structure",
]

#: Greek columns added to the wide chain, per side (``ce_delta`` ...).
GREEK_COLUMNS = ["model_iv", "delta", "gamma", "theta", "vega"]
#: A window: "open" (since the day's first snapshot), minutes back, or a start time.
Since = str | int | timedelta | datetime
_US = 1_000_000


def _table(desk: DeskReader) -> str:
    has = desk.sql(queries.HAS_INDEX).column("n")[0].as_py()
    return queries.SNAPSHOT_INDEX if has else queries.QUOTES


def _on(desk: DeskReader, snap: Snapshot, body: str = queries.SNAPSHOT_ROWS) -> pa.Table:
    """``body`` over the rows of a snapshot already looked up (default: the rows themselves,
    as ``Desk.quotes`` gives them): no second lookup."""
    return desk.sql(compose(queries.ONE_SNAPSHOT, body), snap._asdict())


def _resolve(
    desk: DeskReader, symbol: str, expiry: date | None, at: When | None
) -> tuple[Snapshot, pa.Table]:
    """The snapshot ``Desk.chain`` would show, and its long rows: where every function about
    one snapshot starts."""
    snap = desk.snapshot(symbol, expiry, at)
    return snap, _on(desk, snap)


def _day_start(moment: datetime) -> datetime:
    day = moment.astimezone(IST).date()
    return datetime.combine(day, datetime.min.time(), IST)


def chain_with_greeks(
    desk: DeskReader,
    symbol: str,
    expiry: date | None = None,
    at: When | None = None,
    rate: float = DEFAULT_RATE,
) -> pa.Table:
    """The wide chain of one snapshot plus ``ce_``/``pe_`` model IV (percent), delta, gamma,
    theta (per day) and vega (per vol point): Black-76 on the parity forward."""
    _, quotes = _resolve(desk, symbol, expiry, at)
    extra = pos.pivot_sides(chain_greeks(quotes, rate=rate), GREEK_COLUMNS)
    return pos.wide_chain(quotes).join(extra, keys="strike").sort_by("strike")


def _window_start(snap: Snapshot, since: Since) -> datetime:
    """Where a window ending at ``snap`` starts: the day's start for "open", else the time
    ``since`` names (minutes back, a timedelta, a time, or 'HH:MM[:SS]' on the snapshot's
    IST day)."""
    day_start = _day_start(snap.exchange_ts)
    if isinstance(since, str):
        if since == "open":
            return day_start
        if since.isdigit():
            since = int(since)
        elif len(since) <= 8 and ":" in since:  # a time of day, not a full ISO instant
            since = datetime.combine(day_start.date(), time.fromisoformat(since), IST)
        else:
            since = as_instant(since) or day_start
    if isinstance(since, int):
        since = timedelta(minutes=since)
    return snap.exchange_ts - since if isinstance(since, timedelta) else since


def _base_ts(desk: DeskReader, snap: Snapshot, since: Since) -> datetime:
    """The baseline snapshot of a window ending at ``snap`` (one query): the latest at or
    before the window's start, never before the day's first snapshot (a window reaching
    further back starts there)."""
    start = _day_start(snap.exchange_ts)
    p = snap._asdict() | {"day_start": start, "moment": _window_start(snap, since)}
    found = desk.sql(tsql.window_base_sql(_table(desk)), p)
    first: datetime = found.column("first")[0].as_py()
    latest: datetime | None = found.column("latest")[0].as_py()
    return first if latest is None else max(first, latest)


def oi_window(
    desk: DeskReader,
    symbol: str,
    expiry: date | None = None,
    at: When | None = None,
    since: Since = "open",
    until: When | None = None,
) -> pa.Table:
    """Per strike: OI and LTP at the snapshot (``at``, or ``until``) and their change since
    ``since`` ("open", minutes, or a time); ``from_ts``/``to_ts`` name the two snapshots."""
    snap = desk.snapshot(symbol, expiry, until if until is not None else at)
    base = _base_ts(desk, snap, since)
    both = desk.sql(
        compose(tsql.TWO_SNAPSHOTS, queries.SNAPSHOT_ROWS), snap._asdict() | {"from_ts": base}
    )
    ts = both.column("exchange_ts")
    now = both.filter(pc.equal(ts, pa.scalar(snap.exchange_ts, ts.type)))
    then = both.filter(pc.equal(ts, pa.scalar(base, ts.type)))
    out = pos.window_delta(now, then)
    n = out.num_rows
    out = out.append_column("from_ts", pa.array([base] * n, pa.timestamp("us", tz="Asia/Kolkata")))
    ts = pa.array([snap.exchange_ts] * n, pa.timestamp("us", tz="Asia/Kolkata"))
    return out.append_column("to_ts", ts)


def merge_oi_window(
    desk: DeskReader,
    snap: Snapshot,
    rows: list[dict[str, Any]],
    since: Since,
    into: tuple[str, str] = ("ce_oi_window", "pe_oi_window"),
) -> datetime | None:
    """Set ``into`` (CE, PE) of each wide-chain row to its strike's OI change since ``since``
    (``oi_window``; None where the strike has no change); returns the window's start
    snapshot, None if the window is empty. The CLI's ``show --since`` and the web chain."""
    win = oi_window(desk, snap.symbol, snap.expiry, snap.exchange_ts, since)
    by = {
        r["strike"]: r for r in win.select(["strike", "ce_oi_change", "pe_oi_change"]).to_pylist()
    }
    ce, pe = into
    for r in rows:
        got = by.get(r["strike"], {})
        r[ce], r[pe] = got.get("ce_oi_change"), got.get("pe_oi_change")
    start: datetime | None = win.column("from_ts")[0].as_py() if win.num_rows else None
    return start


def strike_day(
    desk: DeskReader, symbol: str, expiry: date, strike: float, day: When | None = None
) -> pa.Table:
    """One strike through one IST day (default: the latest): OI, LTP, IV, volume of both
    legs at every snapshot."""
    if day is None:
        day = desk.snapshot(symbol, expiry).exchange_ts.astimezone(IST).date()
    params = {"symbol": symbol.strip().upper(), "expiry": expiry, "strike": float(strike)}
    src = queries.source(queries.SYMBOL_EXPIRY + " AND strike = $strike", params, day, day)
    return desk.sql(compose(src.sql, tsql.STRIKE_DAY), src.params)


def _latest_per_expiry(
    desk: DeskReader, symbol: str, at: When | None
) -> tuple[str, dict[str, Any]]:
    """SQL of the latest snapshot of each live expiry up to ``at`` (default: the symbol's
    latest snapshot) and its parameters."""
    sym = symbol.strip().upper()
    moment = as_instant(at)
    if moment is None:
        # The small latest_snapshots table first when the loader keeps one: flat in history.
        have = set(desk.sql(queries.LISTINGS).column("name").to_pylist())
        tables = [queries.LATEST] if queries.LATEST in have else []
        for table in [*tables, _table(desk)]:
            last = desk.sql(
                f"SELECT max(exchange_ts) FROM {table} WHERE symbol = $symbol", {"symbol": sym}
            ).column(0)[0]
            if last.is_valid:
                break
        if not last.is_valid:
            raise LookupError(f"{sym}: no snapshot")
        moment = last.as_py()
    start = _day_start(moment)
    params = {"symbol": sym, "day_start": start, "at": moment, "day": start.date()}
    return tsql.latest_per_expiry_sql(_table(desk)), params


def _atm_stored(desk: DeskReader, p: dict[str, Any]) -> bool:
    """Whether the loader's per-snapshot ATM rows (``snapshot_atm``) cover ``$symbol`` in
    ``[$start, $end]``; else the ATM is computed from the quotes (same rule, slower)."""
    if desk.sql(tsql.HAS_ATM).column("n")[0].as_py() != 2:
        return False
    bounds = {k: p[k] for k in ("symbol", "start", "end")}
    return bool(desk.sql(tsql.atm_covers_sql(), bounds).column("ok")[0].as_py())


def _quotes_latest(desk: DeskReader, symbol: str, at: When | None) -> pa.Table:
    """The quote rows of each live expiry's latest snapshot, read between the earliest and the
    latest of those snapshots (not from the day's start): zone maps then skip the day."""
    snaps, p = _latest_per_expiry(desk, symbol, at)
    found = desk.sql(snaps, p).column("exchange_ts")
    lo, hi = pc.min(found).as_py() or p["at"], pc.max(found).as_py() or p["at"]
    sql = tsql.quotes_of_sql(snaps) + " ORDER BY expiry, strike, option_type"
    return desk.sql(sql, p | {"start": lo, "end": hi})


def term_structure(desk: DeskReader, symbol: str, at: When | None = None) -> pa.Table:
    """Per live expiry at its latest snapshot up to ``at``: days to expiry, spot, ATM
    strike, ATM IV (percent) and straddle."""
    snaps, p = _latest_per_expiry(desk, symbol, at)
    p |= {"start": p["day_start"], "end": p["at"]}
    if _atm_stored(desk, p):
        out = desk.sql(
            tsql.atm_latest_sql(), {k: p[k] for k in ("symbol", "day_start", "at", "day")}
        )
    else:
        out = desk.sql(compose(tsql.quotes_of_sql(snaps), tsql.ATM_BY_EXPIRY), p)
    days = pc.days_between(pa.array([p["day"]] * out.num_rows, pa.date32()), out.column("expiry"))
    return out.add_column(1, "days", days)


def surface(
    desk: DeskReader, symbol: str, at: When | None = None, rate: float = DEFAULT_RATE
) -> pa.Table:
    """The volatility surface: per (expiry, strike) of every live expiry at its latest
    snapshot, ``log_moneyness`` = ln(K/F) and ``iv`` = the model's out-of-the-money IV."""
    return pos.surface_table(chain_greeks(_quotes_latest(desk, symbol, at), rate=rate))


def iv_rank(
    desk: DeskReader, symbol: str, start: When | None = None, end: When | None = None
) -> dict[str, Any]:
    """IV rank and percentile of the latest ATM IV (nearest live expiry, each snapshot one
    observation) among all in ``[start, end]``; with the history it covers."""
    sym = symbol.strip().upper()
    lo = as_instant(start) or datetime(1970, 1, 1, tzinfo=IST)
    hi = as_instant(end, end=True) or datetime(9999, 1, 1, tzinfo=IST)
    p = {"symbol": sym, "start": lo, "end": hi}
    if _atm_stored(desk, p):
        rows = desk.sql(tsql.ATM_NEAREST, p)
    else:
        snaps = tsql.nearest_expiry_sql(_table(desk))
        rows = desk.sql(compose(tsql.quotes_of_sql(snaps), tsql.ATM_BY_EXPIRY), p)
    rows = rows.sort_by("exchange_ts")
    iv = np.asarray(rows.column("atm_iv").to_numpy(zero_copy_only=False), dtype=np.float64)
    if iv.size == 0:
        raise LookupError(f"{sym}: no ATM IV recorded in that range")
    ts = rows.column("exchange_ts")  # in IST (``run``): its local dates are IST days
    days = pc.count_distinct(pc.cast(pc.local_timestamp(ts), pa.date32())).as_py()
    found = pos.iv_rank(iv, float(iv[-1]))
    return {
        "symbol": sym,
        "at": ts[-1].as_py(),
        "first": ts[0].as_py(),
        "days": days,
        "rank": None if found is None else found.__dict__,
        "series": rows.select(["exchange_ts", "expiry", "atm_iv"]),
    }


def straddle(
    desk: DeskReader,
    symbol: str,
    expiry: date | None = None,
    day: When | None = None,
    strike: float | None = None,
    width: int = 0,
) -> pa.Table:
    """Straddle (``width`` 0) or strangle (CE ``width`` strikes above, PE below) premium at
    every snapshot of one day, with its running VWAP. ``strike`` None: the ATM strike of
    the latest snapshot of that day, held all day (a fixed position, as a trader holds it)."""
    snap = desk.snapshot(symbol, expiry, as_instant(day, end=True) if day else None)
    the_day = snap.exchange_ts.astimezone(IST).date()
    strikes = np.unique(_f64(_on(desk, snap, tsql.STRIKES), "strike"))
    if strike is None:
        strike = float(_on(desk, snap, queries.ATM).column("atm_strike")[0].as_py())
    i = int(np.argmin(np.abs(strikes - strike)))
    ce_k = float(strikes[min(i + width, strikes.size - 1)])
    pe_k = float(strikes[max(i - width, 0)])
    ce = strike_day(desk, snap.symbol, snap.expiry, ce_k, the_day)
    pe = ce if pe_k == ce_k else strike_day(desk, snap.symbol, snap.expiry, pe_k, the_day)
    both = (
        ce.select(["exchange_ts", "spot", "ce_ltp", "ce_volume"])
        .join(pe.select(["exchange_ts", "pe_ltp", "pe_volume"]), keys="exchange_ts")
        .sort_by("exchange_ts")
    )

    legs = (_f64(both, c) for c in ("ce_ltp", "pe_ltp", "ce_volume", "pe_volume"))
    premium, vwap = pos.straddle_vwap(*legs)
    n = both.num_rows
    return (
        both.append_column("ce_strike", pa.array([ce_k] * n, pa.float64()))
        .append_column("pe_strike", pa.array([pe_k] * n, pa.float64()))
        .append_column("premium", pa.array(premium, mask=~np.isfinite(premium)))
        .append_column("vwap", pa.array(vwap, mask=~np.isfinite(vwap)))
    )


def gex(
    desk: DeskReader,
    symbol: str,
    expiry: date | None = None,
    at: When | None = None,
    rate: float = DEFAULT_RATE,
) -> dict[str, Any]:
    """Gamma exposure by strike and in total (rupees per 1 % move; sign: ``GEX_SIGN``),
    lot size from the snapshot's quantities."""
    snap, quotes = _resolve(desk, symbol, expiry, at)
    g = chain_greeks(quotes, rate=rate)
    lot = pos.lot_size(quotes) or 1
    spot = float(pc.max(quotes.column("underlying_value")).as_py() or 0.0)

    is_call = np.asarray(pc.equal(g.column("option_type"), "CE").to_numpy(zero_copy_only=False))
    k, ce, pe = pos.gex_by_strike(
        _f64(g, "strike"), is_call, _f64(g, "gamma"), _f64(quotes, "open_interest"), lot, spot
    )
    table = pa.table({"strike": k, "ce_gex": ce, "pe_gex": pe, "gex": ce + pe})
    return {
        "snapshot": snap,
        "lot": lot,
        "spot": spot,
        "total": float((ce + pe).sum()),
        "by_strike": table,
    }


def steady_pcr(
    desk: DeskReader,
    symbol: str,
    start: When | None = None,
    end: When | None = None,
    basis: str = "constant",
) -> pa.Table:
    """All-expiry PCR per minute that coverage cannot move (``positioning.steady_pcr``):
    ``basis`` column says 'constant' (a fixed set of expiries per day) or 'ffill'."""
    sym = symbol.strip().upper()
    lo = as_instant(start) or datetime(1970, 1, 1, tzinfo=IST)
    hi = as_instant(end, end=True) or datetime(9999, 1, 1, tzinfo=IST)
    snaps = _snapshot_totals(desk, sym, lo, hi)
    ts = np.asarray(snaps.column("exchange_ts").cast(pa.int64()).to_numpy(), dtype=np.int64)
    minute = ts // (60 * _US) * 60
    day = (ts + 19_800 * _US) // (86_400 * _US)
    exp = np.asarray(snaps.column("expiry").cast(pa.int32()).to_numpy(), dtype=np.int64)
    vals = np.zeros((snaps.num_rows, len(pos.STEADY_COLUMNS)))
    for i, name in enumerate(pos.STEADY_COLUMNS):
        vals[:, i] = _f64(snaps, name)
    out = pos.steady_pcr(day, minute, exp, vals, basis=basis)
    n = out["minute"].size
    with np.errstate(invalid="ignore", divide="ignore"):
        pcr_oi = out["pe_oi"] / np.where(out["ce_oi"] > 0, out["ce_oi"], np.nan)
        pcr_vol = out["pe_volume"] / np.where(out["ce_volume"] > 0, out["ce_volume"], np.nan)
    return pa.table(
        {
            "symbol": pa.array([sym] * n, pa.string()),
            "exchange_ts": pa.array(out["minute"] * _US, pa.timestamp("us", tz="Asia/Kolkata")),
            "basis": pa.array([basis] * n, pa.string()),
            "expiries": pa.array(out["expiries"], pa.int64()),
            "ce_oi": out["ce_oi"],
            "pe_oi": out["pe_oi"],
            "pcr_oi": pa.array(pcr_oi, mask=~np.isfinite(pcr_oi)),
            "ce_volume": out["ce_volume"],
            "pe_volume": out["pe_volume"],
            "pcr_volume": pa.array(pcr_vol, mask=~np.isfinite(pcr_vol)),
        }
    )


def _f64(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _snapshot_totals(desk: DeskReader, symbol: str, lo: datetime, hi: datetime) -> pa.Table:
    """Per snapshot of ``symbol`` in ``[lo, hi]``: expiry, exchange_ts and the OI/volume
    sums, from the loader's stored totals when they cover the range, else from quotes."""
    bounds = queries.source("", {}, lo, hi)
    stored = desk.sql(queries.HAS_TOTALS).column("n")[0].as_py() == queries.TOTALS_COLUMNS
    if stored and desk.sql(queries.totals_cover_sql(bounds.sql), bounds.params)["ok"][0].as_py():
        p = {"symbol": symbol, "start": lo, "end": hi}
        return desk.sql(tsql.day_snapshots_sql(queries.SNAPSHOT_INDEX), p)
    src = queries.source(queries.SYMBOL, {"symbol": symbol}, lo, hi)
    return desk.sql(compose(src.sql, PCR_SQL), src.params)
