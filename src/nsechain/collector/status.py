"""The manager's status: a plain dict for ``get_thread_status()`` and ``data/status.json``.

Where it sits: the monitor thread writes it atomically every few seconds so other processes
(``nsechain status``, the dashboard) can see what the collector is doing without touching
DuckDB. Only JSON-ready values go in (ISO strings for times).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from nsechain.contract import FAILED_OUTCOMES
from nsechain.store.files import save_atomic
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import now_ist

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager

__all__ = ["build_status", "read_status", "write_status"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def build_status(m: OptionsThreadedManager) -> dict[str, Any]:
    c = m.collector
    totals = c.totals
    tick = m.last_tick
    col = m.workers["collection_thread"]
    bat = m.workers["batch_thread"]
    return {
        "updated_at": _iso(now_ist()),
        "pid": os.getpid(),
        "state": m.state,
        "market": _market(m),
        "settings": {
            "symbols": m.settings.symbols,
            "rate": m.settings.rate,
            "interval_s": m.settings.interval_s,
            "batch_interval_s": m.settings.batch_interval_s,
            "base_url": m.settings.base_url,
            "db_path": str(m.settings.db_path),
            "data_dir": str(m.settings.data_dir),
        },
        "collection_thread": {
            "alive": col.alive,
            "restarts": col.restarts,
            "last_tick_at": _iso(tick.tick_at if tick else None),
            "next_tick_at": _iso(m.next_tick_at),
            "ticks": totals["ticks"],
            "fetches": {k: v for k, v in totals.items() if k not in ("ticks", "rows_written")},
            "fetches_ok": totals["ok"] + totals["stale"],
            "fetches_failed": sum(totals[k] for k in FAILED_OUTCOMES),
            "rows_written": totals["rows_written"],
            "last_tick_rows": tick.quote_rows if tick else 0,
            "last_tick_planned": tick.planned if tick else 0,
            "tick_in_flight": list(c.progress) if c.progress else None,
            "effective_rate": c.client.effective_rate,
            "backlog_ticks": c.backlog,
            "last_error": (tick.error if tick else None) or col.last_crash,
        },
        "batch_thread": {
            "alive": bat.alive,
            "restarts": bat.restarts,
            "last_batch_at": _iso(m.batch.last_batch_at),
            "batches": m.batch.batches,
            "files_loaded": m.batch.files_loaded,
            "rows_loaded": m.batch.rows_loaded,
            "fetch_rows_loaded": m.batch.fetch_rows_loaded,
            "pending_files": len(list_tick_files(m.settings.pending_dir)),
            "lock_waits": m.batch.lock_waits,
            "last_error": m.batch.last_error or bat.last_crash,
        },
        "symbols": {
            sym: {
                "last_ok_at": _iso(f.last_ok_at),
                "exchange_ts": _iso(f.exchange_ts),
                "last_outcome": f.last_outcome,
            }
            for sym, f in sorted(c.freshness.items())
        },
    }


def _market(m: OptionsThreadedManager) -> dict[str, Any] | None:
    state = getattr(m.market, "state", None)
    if state is None:
        return None
    try:
        st = state(m.clock.now())  # the collector's market time (wall time by default)
    except Exception as exc:  # never let the calendar break status reporting
        return {"phase": "unknown", "reason": str(exc)}
    if st is None:
        return None
    return {
        "phase": st.phase,
        "reason": st.reason,
        "next_open": _iso(st.next_open),
        "next_close": _iso(st.next_close),
    }


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(path, orjson.dumps(status, option=orjson.OPT_INDENT_2))


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status a collector wrote, or None if there is none (or it is unreadable)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
