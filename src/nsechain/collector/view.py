"""Rich renderables of a status dict: the live view of ``collect`` and ``nsechain status``.

Where it sits: presentation only. Input is the dict ``build_status`` makes (or status.json read
back), so the same view serves the running collector and a separate ``status`` process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nsechain.timeutil import now_ist

__all__ = ["age", "status_view"]


def age(iso: str | None, now: datetime | None = None) -> str:
    """'42s', '5m', '3h' since an ISO timestamp; '-' for none."""
    if not iso:
        return "-"
    seconds = ((now or now_ist()) - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _threads(st: dict[str, Any]) -> Table:
    col, bat = st["collection_thread"], st["batch_thread"]
    t = Table(title=f"nsechain — {st.get('state', '?')}", title_justify="left", expand=False)
    for name in ("thread", "alive", "restarts", "last", "counts", "last error"):
        t.add_column(name)
    fetches = ", ".join(f"{k}={v}" for k, v in sorted(col["fetches"].items())) or "-"
    t.add_row(
        "collection",
        _alive(col["alive"]),
        str(col["restarts"]),
        f"tick {age(col['last_tick_at'])} ago",
        f"ticks={col['ticks']} rows={col['rows_written']} {fetches}",
        Text(col["last_error"] or "", style="red"),
    )
    t.add_row(
        "batch",
        _alive(bat["alive"]),
        str(bat["restarts"]),
        f"load {age(bat['last_batch_at'])} ago",
        f"batches={bat['batches']} files={bat['files_loaded']} rows={bat['rows_loaded']} "
        f"pending={bat['pending_files']}",
        Text(bat["last_error"] or "", style="red"),
    )
    return t


def _alive(alive: bool) -> Text:
    return Text("yes", style="green") if alive else Text("no", style="bold red")


def _symbols(st: dict[str, Any], db_rows: dict[str, tuple[int, str | None]] | None) -> Table:
    t = Table(title="per symbol", title_justify="left")
    for name in ("symbol", "last new snapshot", "NSE time", "last outcome", "rows in DB"):
        t.add_column(name)
    names = sorted(set(st.get("symbols", {})) | set(db_rows or {}))
    for sym in names:
        s = st.get("symbols", {}).get(sym, {})
        outcome = s.get("last_outcome") or "-"
        rows = db_rows.get(sym, (0, None))[0] if db_rows else None
        t.add_row(
            sym,
            age(s.get("last_ok_at")),
            (s.get("exchange_ts") or "-")[11:19] or "-",
            Text(outcome, style="green" if outcome in ("ok", "stale") else "red"),
            "-" if rows is None else f"{rows:,}",
        )
    return t


def status_view(
    st: dict[str, Any], db_rows: dict[str, tuple[int, str | None]] | None = None
) -> Group:
    col = st["collection_thread"]
    head = Text(
        f"updated {age(st.get('updated_at'))} ago · next tick {col.get('next_tick_at') or '-'} · "
        f"rate {col.get('effective_rate', '-')} req/s · backlog {col.get('backlog_ticks', 0)}"
    )
    return Group(_threads(st), head, _symbols(st, db_rows))
