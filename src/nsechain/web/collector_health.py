"""What the health page says about the collector: fetches per minute, freshness, quarantine.

Where it sits: beside ``web/service.py`` (the market's answers; its row helpers are used
here), under ``web/app.py``. It reads the fetch log through a Desk, the collector's status
dict and the data folders, and returns plain, JSON-ready dicts.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from nsechain.contract import FAILED_OUTCOMES, OUTCOMES
from nsechain.query import Desk
from nsechain.store.paths import list_tick_files
from nsechain.web import sql
from nsechain.web.service import rows_of, tables_of

__all__ = ["fetch_report", "freshness", "latest_by_symbol", "pending_files", "quarantine"]

#: Length of the fetch report's window ("over the last hour").
WINDOW = timedelta(hours=1)


def fetch_report(desk: Desk, now: datetime, *, errors: int = 12) -> dict[str, Any]:
    """Requests per minute by outcome over the 60 whole minutes up to ``now``'s (or, when
    nothing was fetched in them, up to the last recorded request's), per symbol, and the
    failures grouped by kind. ``end`` is exclusive: the minute after the last one shown."""
    if "fetch_log" not in tables_of(desk):
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
    grouped = rows_of(desk.sql(sql.FETCH_ERRORS, params | {"limit": errors}))
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
