"""What the dashboard's JSON API returns, computed from a Desk and the collector's status.

Where it sits: between ``web/app.py`` (HTTP: parameters, errors, caching) and the analysis
desk (``nsechain.query``). Functions here take a Desk and plain values and return plain,
JSON-ready dicts; they build no SQL from request values (the constants are in ``web/sql.py``
and ``analytics/``).
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from nsechain.analytics import queries
from nsechain.analytics.sql import compose
from nsechain.contract import FAILED_OUTCOMES, OUTCOMES
from nsechain.query import Desk
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import IST
from nsechain.web import sql

__all__ = [
    "NotFound",
    "chain",
    "fetch_report",
    "freshness",
    "merge_window",
    "quarantine",
    "series",
    "smile",
    "snapshot_times",
    "symbols",
    "window_arg",
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

#: Length of the fetch report's window ("over the last hour").
WINDOW = timedelta(hours=1)


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


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = clean(table.to_pylist())
    return rows


def _first(table: pa.Table) -> dict[str, Any]:
    return _rows(table.slice(0, 1))[0] if table.num_rows else {}


def _tables(desk: Desk) -> set[str]:
    return {str(r["table_name"]) for r in desk.sql(sql.TABLES).to_pylist()}


def _snapshot_table(desk: Desk) -> str:
    have = _tables(desk)
    return queries.SNAPSHOT_INDEX if queries.SNAPSHOT_INDEX in have else queries.QUOTES


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, IST)
    return start, start + timedelta(days=1)


# --- what is recorded --------------------------------------------------------------------------


def symbols(desk: Desk) -> list[dict[str, Any]]:
    """Every recorded symbol with its expiries, snapshot counts and spans (for the pickers)."""
    rows = _rows(desk.sql(sql.SYMBOLS[_snapshot_table(desk)]))
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
    days = _rows(desk.sql(sql.SNAPSHOT_DAYS[table], {"symbol": symbol, "expiry": expiry}))
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


def window_arg(since: str) -> Any:
    """A ``since`` query value as ``Desk.oi_window`` takes it."""
    return int(since) if since.isdigit() else since


def merge_window(desk: Desk, snap: Any, rows: list[dict[str, Any]], since: str) -> Any:
    """Add ``ce_oi_window``/``pe_oi_window`` (change over the window) to chain rows; returns
    the window's start snapshot time."""
    win = desk.oi_window(snap.symbol, snap.expiry, snap.exchange_ts, window_arg(since))
    by = {r["strike"]: r for r in win.to_pylist()}
    for r in rows:
        got = by.get(r["strike"], {})
        r["ce_oi_window"], r["pe_oi_window"] = got.get("ce_oi_change"), got.get("pe_oi_change")
    return win.column("from_ts")[0].as_py() if win.num_rows else None


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
    wide = _rows(read(snap.symbol, snap.expiry, ts))
    window_from = merge_window(desk, snap, wide, since) if since else None
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
    rows = _rows(table.select(list(keep)))
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
    pcr = _rows(desk.pcr(snap.symbol, snap.expiry, day, day))
    pain = _rows(desk.max_pain_series(snap.symbol, snap.expiry, day, day))
    source = queries.source(queries.SYMBOL_EXPIRY, params, day, day)
    atm = _rows(desk.sql(compose(source.sql, sql.ATM_SERIES), source.params))
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


def fetch_report(desk: Desk, now: datetime, *, errors: int = 12) -> dict[str, Any]:
    """Requests per minute by outcome over the 60 whole minutes up to ``now``'s (or, when
    nothing was fetched in them, up to the last recorded request's), per symbol, and the
    failures grouped by kind. ``end`` is exclusive: the minute after the last one shown."""
    if "fetch_log" not in _tables(desk):
        return {"available": False}
    last = desk.sql(sql.FETCH_LAST).column("last")[0].as_py()
    live = last is None or last >= _minute(now) - WINDOW + timedelta(minutes=1)
    end = _minute(now if live else last) + timedelta(minutes=1)
    start = end - WINDOW
    params = {"start": start, "end": end}
    minutes: dict[datetime, dict[str, int]] = defaultdict(dict)
    totals = dict.fromkeys(OUTCOMES, 0)
    for r in desk.sql(sql.FETCH_MINUTES, params).to_pylist():
        minutes[r["minute"]][r["outcome"]] = int(r["n"])
        totals[r["outcome"]] = totals.get(r["outcome"], 0) + int(r["n"])
    by_symbol: dict[str, dict[str, Any]] = {}
    for r in desk.sql(sql.FETCH_SYMBOLS, params).to_pylist():
        entry = by_symbol.setdefault(
            r["symbol"],
            {"symbol": r["symbol"], "counts": {}, "last_ok_at": None, "exchange_ts": None},
        )
        entry["counts"][r["outcome"]] = int(r["n"])
        if entry.get("last_at") is None or r["last_at"] > entry["last_at"]:
            entry["last_at"], entry["last_outcome"] = r["last_at"], r["outcome"]
        if r["outcome"] == "ok":
            entry["last_ok_at"], entry["exchange_ts"] = r["last_at"], r["last_exchange_ts"]
    grouped = _rows(desk.sql(sql.FETCH_ERRORS, params | {"limit": errors}))
    return {
        "available": True,
        "live": live,
        "start": start,
        "end": end,
        "last": last,
        "minutes": [
            {"minute": m, "counts": c, "requests": sum(c.values())}
            for m, c in sorted(minutes.items())
        ],
        "totals": totals,
        "requests": sum(totals.values()),
        "failed": sum(totals.get(k, 0) for k in FAILED_OUTCOMES),
        "by_symbol": list(by_symbol.values()),
        "errors": grouped,
    }


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def latest_by_symbol(listing: list[dict[str, Any]]) -> dict[str, datetime]:
    return {e["symbol"]: e["last_ts"] for e in listing}


def freshness(
    status: dict[str, Any] | None,
    report: dict[str, Any] | None,
    latest: dict[str, datetime],
    now: datetime,
) -> list[dict[str, Any]]:
    """Per symbol: when its last good snapshot arrived and how old that is, worst first.

    Sources, best first: the collector's status (current to a few seconds), the fetch log
    (current to the last batch), the database's latest snapshot (NSE's time only)."""
    out: dict[str, dict[str, Any]] = {}

    def entry(sym: str) -> dict[str, Any]:
        return out.setdefault(
            sym,
            {
                "symbol": sym,
                "last_ok_at": None,
                "exchange_ts": None,
                "last_outcome": None,
                "age_s": None,
                "source": None,
                "counts": {},
                "loaded_ts": latest.get(sym),
            },
        )

    for sym in latest:
        entry(sym)
    for r in (report or {}).get("by_symbol", []):
        if r["symbol"] == "(session)":
            continue
        e = entry(r["symbol"])
        e["counts"], e["last_outcome"] = r["counts"], r["last_outcome"]
        if r["last_ok_at"] is not None:
            e |= {"last_ok_at": r["last_ok_at"], "exchange_ts": r["exchange_ts"]}
            e["source"] = "fetch_log"
    for sym, s in ((status or {}).get("symbols") or {}).items():
        e = entry(sym)
        e["last_outcome"] = s.get("last_outcome") or e["last_outcome"]
        if s.get("last_ok_at"):
            e["last_ok_at"] = datetime.fromisoformat(s["last_ok_at"])
            e["exchange_ts"] = _parse(s.get("exchange_ts")) or e["exchange_ts"]
            e["source"] = "status"
    for e in out.values():
        if e["last_ok_at"] is not None:
            e["age_s"] = round((now - e["last_ok_at"]).total_seconds(), 1)
        elif e["loaded_ts"] is not None:
            e["exchange_ts"], e["source"] = e["loaded_ts"], "database"
    failing = {"empty", *FAILED_OUTCOMES}

    def worst(e: dict[str, Any]) -> tuple[int, float, str]:
        bad = 0 if e["last_outcome"] in failing else 1
        return (bad, -(e["age_s"] if e["age_s"] is not None else math.inf), e["symbol"])

    return sorted(out.values(), key=worst)


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


def quarantine(root: Path, *, limit: int = 5) -> dict[str, Any]:
    """How many bodies or files were quarantined (NSE sent something that was not data, or a
    tick file was unreadable), and the newest few with their reasons."""
    if not root.is_dir():
        return {"files": 0, "recent": []}
    sidecars = list(root.glob("*/*.reason.json"))
    with_time = []
    for p in sidecars:
        with contextlib.suppress(OSError):
            with_time.append((p.parent.name, p.stat().st_mtime, p))
    recent = []
    for _, _, p in sorted(with_time, reverse=True)[:limit]:
        try:
            record = orjson.loads(p.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(record, dict):
            recent.append(
                {
                    "file": p.name.removesuffix(".reason.json"),
                    "reason": str(record.get("reason", ""))[:500],
                    "symbol": record.get("symbol"),
                    "at": record.get("quarantined_at"),
                }
            )
    return {"files": len(sidecars), "recent": recent}


def pending_files(root: Path) -> int:
    return len(list_tick_files(root)) if root.is_dir() else 0
