"""What the dashboard's JSON API says about the market, computed from a Desk.

Where it sits: between ``web/app.py`` (HTTP: parameters, errors, caching) and the analysis
desk (``nsechain.query``); what it says about the collector (fetches, freshness, quarantine)
is in ``web/collector_health.py``. Functions here take a Desk and plain values and return plain,
JSON-ready dicts; they build no SQL from request values (the constants are in ``web/sql.py``
and ``analytics/``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from nsechain.analytics import queries
from nsechain.analytics.sql import compose
from nsechain.analytics.trader import merge_oi_window
from nsechain.query import Desk
from nsechain.timeutil import IST
from nsechain.web import sql

__all__ = [
    "NotFound",
    "chain",
    "clean",
    "rows_of",
    "series",
    "smile",
    "snapshot_times",
    "symbols",
    "tables_of",
]

#: What ``series`` gives per snapshot, besides its time.
SERIES_FIELDS = (
    "spot",
    "pcr_oi",
    "pcr_volume",
    "ce_oi",
    "pe_oi",
    "max_pain",
    "atm_strike",
    "atm_iv",
    "straddle",
)


class NotFound(LookupError):
    """A symbol, expiry or snapshot the database does not hold (HTTP 404)."""


# --- helpers -----------------------------------------------------------------------------------


def clean(value: Any) -> Any:
    """NaN and infinities (JSON has neither) as None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """An Arrow table as JSON-ready row dicts."""
    rows: list[dict[str, Any]] = clean(table.to_pylist())
    return rows


def _first(table: pa.Table) -> dict[str, Any]:
    return rows_of(table.slice(0, 1))[0] if table.num_rows else {}


def tables_of(desk: Desk) -> set[str]:
    """The names of the database's tables."""
    return {str(r["table_name"]) for r in desk.sql(sql.TABLES).to_pylist()}


def _snapshot_table(desk: Desk) -> str:
    have = tables_of(desk)
    return queries.SNAPSHOT_INDEX if queries.SNAPSHOT_INDEX in have else queries.QUOTES


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, IST)
    return start, start + timedelta(days=1)


# --- what is recorded --------------------------------------------------------------------------


def symbols(desk: Desk) -> list[dict[str, Any]]:
    """Every recorded symbol with its expiries, snapshot counts and spans (for the pickers)."""
    rows = rows_of(desk.sql(sql.SYMBOLS[_snapshot_table(desk)]))
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(r["symbol"], {"symbol": r["symbol"], "expiries": []})
        entry["expiries"].append({k: r[k] for k in ("expiry", "snapshots", "first_ts", "last_ts")})
    for entry in out.values():
        entry["last_ts"] = max(e["last_ts"] for e in entry["expiries"])
        entry["snapshots"] = sum(e["snapshots"] for e in entry["expiries"])
    return list(out.values())


def check(listing: list[dict[str, Any]], symbol: str, expiry: date | None) -> None:
    """NotFound with a helpful message unless ``symbol`` (and ``expiry``) are recorded."""
    entry = next((e for e in listing if e["symbol"] == symbol), None)
    if entry is None:
        known = ", ".join(e["symbol"] for e in listing[:30]) or "none yet"
        more = f" and {len(listing) - 30} more" if len(listing) > 30 else ""
        raise NotFound(f"unknown symbol {symbol!r}: the database holds {known}{more}")
    if expiry is not None and all(e["expiry"] != expiry for e in entry["expiries"]):
        known = ", ".join(str(e["expiry"]) for e in entry["expiries"])
        raise NotFound(f"{symbol} has no recorded expiry {expiry}: recorded are {known}")


def snapshot_times(desk: Desk, symbol: str, expiry: date, day: date | None) -> dict[str, Any]:
    """The days with snapshots of (symbol, expiry), and the snapshot times of ``day`` (default:
    the latest day): what the time picker offers."""
    table = _snapshot_table(desk)
    days = rows_of(desk.sql(sql.SNAPSHOT_DAYS[table], {"symbol": symbol, "expiry": expiry}))
    if not days:
        raise NotFound(f"{symbol} {expiry}: no snapshots")
    chosen = day if day is not None else days[-1]["day"]
    start, end = day_bounds(chosen)
    params = {"symbol": symbol, "expiry": expiry, "start": start, "end": end}
    times = desk.sql(sql.SNAPSHOT_TIMES[table], params).column("exchange_ts").to_pylist()
    return {"symbol": symbol, "expiry": expiry, "day": chosen, "days": days, "times": times}


# --- one snapshot ------------------------------------------------------------------------------


def _snapshot(desk: Desk, symbol: str, expiry: date | None, at: datetime | None) -> Any:
    try:
        return desk.snapshot(symbol, expiry, at)
    except LookupError as exc:
        raise NotFound(str(exc)) from None


def _window(rows: list[dict[str, Any]], center: float | None, each_side: int) -> list[Any]:
    if center is None or not rows:
        return rows
    mid = min(range(len(rows)), key=lambda i: abs(rows[i]["strike"] - center))
    return rows[max(mid - each_side, 0) : mid + each_side + 1]


def chain(
    desk: Desk,
    symbol: str,
    expiry: date | None,
    at: datetime | None,
    strikes: int,
    greeks: bool = False,
    since: str | None = None,
) -> dict[str, Any]:
    """The wide chain of one snapshot around ATM (``strikes`` each side) with its levels;
    ``greeks`` adds model IV and greeks, ``since`` the OI change over that window."""
    snap = _snapshot(desk, symbol, expiry, at)
    ts = snap.exchange_ts
    read = desk.chain_greeks if greeks else desk.chain
    wide = rows_of(read(snap.symbol, snap.expiry, ts))
    window_from = merge_oi_window(desk, snap, wide, since) if since else None
    atm = _first(desk.atm(snap.symbol, snap.expiry, ts))
    pain = _first(desk.max_pain(snap.symbol, snap.expiry, ts))
    pcr = _first(desk.pcr(snap.symbol, snap.expiry, ts, ts))
    spot = atm.get("spot") if atm.get("spot") is not None else _first_spot(wide)
    atm_strike = atm.get("atm_strike")
    window = _window(wide, atm_strike if atm_strike is not None else spot, strikes)
    for row in window:
        for key in ("symbol", "expiry", "exchange_ts", "underlying_value"):
            row.pop(key, None)

    def top(side: str) -> float | None:
        best = max(wide, key=lambda r: r[f"{side}_open_interest"] or 0, default=None)
        return None if best is None or not best[f"{side}_open_interest"] else best["strike"]

    return {
        "symbol": snap.symbol,
        "expiry": snap.expiry,
        "exchange_ts": ts,
        "spot": spot,
        "atm_strike": atm_strike,
        "atm_iv": atm.get("atm_iv"),
        "straddle": atm.get("straddle"),
        "max_pain": pain.get("max_pain"),
        "pcr_oi": pcr.get("pcr_oi"),
        "pcr_volume": pcr.get("pcr_volume"),
        "ce_oi": pcr.get("ce_oi"),
        "pe_oi": pcr.get("pe_oi"),
        "resistance": top("ce"),
        "support": top("pe"),
        "strikes_total": len(wide),
        "window_from": window_from,
        "rows": window,
    }


def _first_spot(rows: list[dict[str, Any]]) -> float | None:
    return next((r["underlying_value"] for r in rows if r["underlying_value"] is not None), None)


def smile(
    desk: Desk, symbol: str, expiry: date | None, at: datetime | None, strikes: int
) -> dict[str, Any]:
    """The IV smile of one snapshot: NSE's IV of both sides and the model's OTM smile."""
    snap = _snapshot(desk, symbol, expiry, at)
    table = desk.iv_smile(snap.symbol, snap.expiry, snap.exchange_ts)
    keep = (
        "strike",
        "log_moneyness",
        "smile_iv",
        "ce_nse_iv",
        "pe_nse_iv",
        "ce_model_iv",
        "pe_model_iv",
    )
    rows = rows_of(table.select(list(keep)))
    forward = _first(table.select(["forward"])).get("forward")
    return {
        "symbol": snap.symbol,
        "expiry": snap.expiry,
        "exchange_ts": snap.exchange_ts,
        "forward": forward,
        "rows": _window(rows, forward, strikes),
    }


# --- through the day ---------------------------------------------------------------------------


def series(desk: Desk, symbol: str, expiry: date | None, day: date | None) -> dict[str, Any]:
    """Per snapshot of one IST day: spot, PCR (OI, volume), max pain, ATM strike and IV."""
    snap = _snapshot(desk, symbol, expiry, None)
    if day is None:
        day = snap.exchange_ts.astimezone(IST).date()
    params = {"symbol": snap.symbol, "expiry": snap.expiry}
    pcr = rows_of(desk.pcr(snap.symbol, snap.expiry, day, day))
    pain = rows_of(desk.max_pain_series(snap.symbol, snap.expiry, day, day))
    source = queries.source(queries.SYMBOL_EXPIRY, params, day, day)
    atm = rows_of(desk.sql(compose(source.sql, sql.ATM_SERIES), source.params))
    points: dict[datetime, dict[str, Any]] = defaultdict(dict)
    for r in pcr:
        points[r["exchange_ts"]] |= {k: r[k] for k in ("pcr_oi", "pcr_volume", "ce_oi", "pe_oi")}
        points[r["exchange_ts"]]["spot"] = r["underlying_value"]
    for r in pain:
        points[r["exchange_ts"]]["max_pain"] = r["max_pain"]
    for r in atm:
        points[r["exchange_ts"]] |= {k: r[k] for k in ("atm_strike", "atm_iv", "straddle")}
        points[r["exchange_ts"]].setdefault("spot", r["spot"])
    fields = SERIES_FIELDS
    return {
        "symbol": snap.symbol,
        "expiry": snap.expiry,
        "day": day,
        "points": [
            {"exchange_ts": ts} | {f: p.get(f) for f in fields} for ts, p in sorted(points.items())
        ],
    }


# --- collection health -------------------------------------------------------------------------
