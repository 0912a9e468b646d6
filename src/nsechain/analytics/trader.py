"""The trader's desk: greeks in the chain, OI over a window, expiries side by side, GEX.

Where it sits: above ``nsechain.query.Desk`` (which exposes each function as a method) and
below the CLI and the web service. Each function finds its snapshots with the Desk's SQL,
reads only their rows, and hands Arrow/numpy to ``analytics/positioning.py`` (pure) or
``analytics/greeks.py``. Times are aware datetimes (IST shown).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nsechain.analytics import positioning as pos
from nsechain.analytics import queries
from nsechain.analytics import trader_sql as tsql
from nsechain.analytics.db import When, as_instant
from nsechain.analytics.greeks import DEFAULT_RATE, chain_greeks
from nsechain.analytics.smile import smile_table
from nsechain.analytics.sql import PCR_SQL, compose
from nsechain.timeutil import IST

# nsechain.query.Desk and its Snapshot sit a floor above and call these functions: the imports
# only point down, so here they are typed loosely; the Desk methods carry the real types.
Desk = Any
Snapshot = Any

__all__ = [
    "GREEK_COLUMNS",
    "Since",
    "chain_with_greeks",
    "gex",
    "iv_rank",
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


def _table(desk: Desk) -> str:
    has = desk.sql(queries.HAS_INDEX).column("n")[0].as_py()
    return queries.SNAPSHOT_INDEX if has else queries.QUOTES


def _day_start(moment: datetime) -> datetime:
    day = moment.astimezone(IST).date()
    return datetime.combine(day, datetime.min.time(), IST)


def chain_with_greeks(
    desk: Desk, symbol: str, expiry: date | None, at: When | None, rate: float = DEFAULT_RATE
) -> pa.Table:
    """The wide chain of one snapshot plus ``ce_``/``pe_`` model IV (percent), delta, gamma,
    theta (per day) and vega (per vol point): Black-76 on the parity forward."""
    snap = desk.snapshot(symbol, expiry, at)
    wide = desk.chain(snap.symbol, snap.expiry, snap.exchange_ts)
    g = chain_greeks(desk.quotes(snap.symbol, snap.expiry, snap.exchange_ts), rate=rate)
    extra = pos.pivot_sides(g, GREEK_COLUMNS)
    return wide.join(extra, keys="strike").sort_by("strike")


def _base_ts(desk: Desk, snap: Snapshot, since: Since) -> datetime:
    """The baseline snapshot of a window ending at ``snap``; never before the day's open:
    a window reaching further back starts at the day's first snapshot."""
    start = _day_start(snap.exchange_ts)
    p = {"symbol": snap.symbol, "expiry": snap.expiry, "day_start": start, "at": snap.exchange_ts}
    first: datetime = desk.sql(tsql.first_snapshot_sql(_table(desk)), p).column(0)[0].as_py()
    if since == "open":
        return first
    if isinstance(since, str):
        since = int(since) if since.isdigit() else as_instant(since) or first
    if isinstance(since, int):
        since = timedelta(minutes=since)
    moment = snap.exchange_ts - since if isinstance(since, timedelta) else since
    if moment <= first:
        return first
    found: datetime = desk.snapshot(snap.symbol, snap.expiry, moment).exchange_ts
    return found


def oi_window(
    desk: Desk,
    symbol: str,
    expiry: date | None,
    at: When | None,
    since: Since = "open",
    until: When | None = None,
) -> pa.Table:
    """Per strike: OI and LTP at the snapshot (``at``, or ``until``) and their change since
    ``since`` ("open", minutes, or a time); ``from_ts``/``to_ts`` name the two snapshots."""
    snap = desk.snapshot(symbol, expiry, until if until is not None else at)
    base = _base_ts(desk, snap, since)
    now = desk.quotes(snap.symbol, snap.expiry, snap.exchange_ts)
    then = desk.quotes(snap.symbol, snap.expiry, base)
    out = pos.window_delta(now, then)
    n = out.num_rows
    out = out.append_column("from_ts", pa.array([base] * n, pa.timestamp("us", tz="Asia/Kolkata")))
    ts = pa.array([snap.exchange_ts] * n, pa.timestamp("us", tz="Asia/Kolkata"))
    return out.append_column("to_ts", ts)


def strike_day(
    desk: Desk, symbol: str, expiry: date, strike: float, day: When | None = None
) -> pa.Table:
    """One strike through one IST day (default: the latest): OI, LTP, IV, volume of both
    legs at every snapshot."""
    if day is None:
        day = desk.snapshot(symbol, expiry).exchange_ts.astimezone(IST).date()
    params = {"symbol": symbol.strip().upper(), "expiry": expiry, "strike": float(strike)}
    src = queries.source(queries.SYMBOL_EXPIRY + " AND strike = $strike", params, day, day)
    return desk.sql(compose(src.sql, tsql.STRIKE_DAY), src.params)


def _latest_per_expiry(desk: Desk, symbol: str, at: When | None) -> tuple[str, dict[str, Any]]:
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


def _quotes_latest(desk: Desk, symbol: str, at: When | None) -> pa.Table:
    snaps, p = _latest_per_expiry(desk, symbol, at)
    sql = tsql.quotes_of_sql(snaps)
    return desk.sql(
        sql + " ORDER BY expiry, strike, option_type", p | {"start": p["day_start"], "end": p["at"]}
    )


def term_structure(desk: Desk, symbol: str, at: When | None = None) -> pa.Table:
    """Per live expiry at its latest snapshot up to ``at``: days to expiry, spot, ATM
    strike, ATM IV (percent) and straddle."""
    snaps, p = _latest_per_expiry(desk, symbol, at)
    source = tsql.quotes_of_sql(snaps)
    out = desk.sql(
        compose(source, tsql.ATM_BY_EXPIRY), p | {"start": p["day_start"], "end": p["at"]}
    )
    days = pc.days_between(pa.array([p["day"]] * out.num_rows, pa.date32()), out.column("expiry"))
    return out.add_column(1, "days", days)


def surface(
    desk: Desk, symbol: str, at: When | None = None, rate: float = DEFAULT_RATE
) -> pa.Table:
    """The volatility surface: per (expiry, strike) of every live expiry at its latest
    snapshot, ``log_moneyness`` = ln(K/F) and ``iv`` = the model's out-of-the-money IV."""
    g = chain_greeks(_quotes_latest(desk, symbol, at), rate=rate)
    parts = []
    for exp in pc.unique(g.column("expiry")).to_pylist():
        one = smile_table(g.filter(pc.equal(g.column("expiry"), exp)))
        n = one.num_rows
        parts.append(
            pa.table(
                {
                    "expiry": pa.array([exp] * n, pa.date32()),
                    "strike": one.column("strike"),
                    "log_moneyness": one.column("log_moneyness"),
                    "iv": one.column("smile_iv"),
                }
            )
        )
    empty = pa.schema(
        [
            ("expiry", pa.date32()),
            ("strike", pa.float64()),
            ("log_moneyness", pa.float64()),
            ("iv", pa.float64()),
        ]
    )
    return pa.concat_tables(parts) if parts else empty.empty_table()


def iv_rank(
    desk: Desk, symbol: str, start: When | None = None, end: When | None = None
) -> dict[str, Any]:
    """IV rank and percentile of the latest ATM IV (nearest live expiry, each snapshot one
    observation) among all in ``[start, end]``; with the history it covers."""
    sym = symbol.strip().upper()
    lo = as_instant(start) or datetime(1970, 1, 1, tzinfo=IST)
    hi = as_instant(end, end=True) or datetime(9999, 1, 1, tzinfo=IST)
    snaps = tsql.nearest_expiry_snapshots_sql(_table(desk))
    p = {"symbol": sym, "start": lo, "end": hi}
    rows = desk.sql(compose(tsql.quotes_of_sql(snaps), tsql.ATM_BY_EXPIRY), p)
    rows = rows.sort_by("exchange_ts")
    iv = np.asarray(rows.column("atm_iv").to_numpy(zero_copy_only=False), dtype=np.float64)
    if iv.size == 0:
        raise LookupError(f"{sym}: no ATM IV recorded in that range")
    ts = rows.column("exchange_ts").to_pylist()
    days = {t.astimezone(IST).date() for t in ts}
    found = pos.iv_rank(iv, float(iv[-1]))
    return {
        "symbol": sym,
        "at": ts[-1],
        "first": ts[0],
        "days": len(days),
        "rank": None if found is None else found.__dict__,
        "series": rows.select(["exchange_ts", "expiry", "atm_iv"]),
    }


def straddle(
    desk: Desk,
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
    chain = desk.chain(snap.symbol, snap.expiry, snap.exchange_ts)
    strikes = np.asarray(chain.column("strike").to_numpy(), dtype=np.float64)
    if strike is None:
        strike = float(
            desk.atm(snap.symbol, snap.expiry, snap.exchange_ts).column("atm_strike")[0].as_py()
        )
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
    desk: Desk,
    symbol: str,
    expiry: date | None = None,
    at: When | None = None,
    rate: float = DEFAULT_RATE,
) -> dict[str, Any]:
    """Gamma exposure by strike and in total (rupees per 1 % move; sign: ``GEX_SIGN``),
    lot size from the snapshot's quantities."""
    snap = desk.snapshot(symbol, expiry, at)
    quotes = desk.quotes(snap.symbol, snap.expiry, snap.exchange_ts)
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
    desk: Desk,
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


def _snapshot_totals(desk: Desk, symbol: str, lo: datetime, hi: datetime) -> pa.Table:
    """Per snapshot of ``symbol`` in ``[lo, hi]``: expiry, exchange_ts and the OI/volume
    sums, from the loader's stored totals when they cover the range, else from quotes."""
    bounds = queries.source("", {}, lo, hi)
    stored = desk.sql(queries.HAS_TOTALS).column("n")[0].as_py() == queries.TOTALS_COLUMNS
    if stored and desk.sql(queries.totals_cover_sql(bounds.sql), bounds.params)["ok"][0].as_py():
        p = {"symbol": symbol, "start": lo, "end": hi}
        return desk.sql(tsql.day_snapshots_sql(queries.SNAPSHOT_INDEX), p)
    src = queries.source(queries.SYMBOL, {"symbol": symbol}, lo, hi)
    return desk.sql(compose(src.sql, PCR_SQL), src.params)
