"""Rich renderables of a status dict: the live view of ``collect`` and ``nsechain status``.

Where it sits: presentation only. Input is the dict ``get_thread_status()`` makes (or
status.json read back), so the same view serves the running collector and a separate
``status`` process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from nsechain.timeutil import now_ist

__all__ = ["age", "status_view", "verdict_line"]

_STYLE = {"recording": "bold green", "degraded": "bold yellow", "not recording": "bold red"}


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


def _threads(st: dict[str, Any], now: datetime) -> Table:
    col, bat = st["collection_thread"], st["batch_thread"]
    t = Table(title=f"nsechain — {st.get('state', '?')}", title_justify="left", expand=False)
    for name in ("thread", "alive", "restarts", "last", "counts", "last error"):
        t.add_column(name)
    fetches = " ".join(f"{k}={v}" for k, v in sorted(col["fetches"].items())) or "-"
    flight = col.get("tick_in_flight")
    last = f"tick {age(col['last_tick_at'], now)} ago"
    if flight:
        last += f" · now {flight[0]}/{flight[1]}"
    _row(t, "collection", col, last, f"ticks={col['ticks']} rows={col['rows_written']} {fetches}")
    loads = f"batches={bat['batches']} files={bat['files_loaded']} rows={bat['rows_loaded']} "
    _row(
        t,
        "batch",
        bat,
        f"load {age(bat['last_batch_at'])} ago",
        loads + f"pending={bat['pending_files']}",
    )
    lake = st.get("lake_thread")
    if lake:  # only with a lake catalog
        commits = f"commits={lake['commits']} files={lake['files_committed']} "
        commits += f"not_in_lake={lake['lag_files']} errors={lake['errors']}"
        _row(t, "lake", lake, f"commit {age(lake['last_commit_at'], now)} ago", commits)
    return t


def _row(t: Table, name: str, thread: dict[str, Any], last: str, counts: str) -> None:
    """One thread's row: alive, restarts, its last action, its counters, its last error."""
    error = Text(thread["last_error"] or "", style="red")
    t.add_row(name, _alive(thread["alive"]), str(thread["restarts"]), last, counts, error)


def _alive(alive: bool) -> Text:
    return Text("yes", style="green") if alive else Text("no", style="bold red")


def _worst_first(st: dict[str, Any], names: list[str]) -> list[str]:
    """Failing symbols first, then the least fresh: what a user should look at."""

    def key(sym: str) -> tuple[int, str]:
        s = st.get("symbols", {}).get(sym, {})
        failing = s.get("last_outcome") not in ("ok", "stale")
        return (0 if failing else 1, s.get("last_ok_at") or "")

    return sorted(names, key=key)


def _symbols(
    st: dict[str, Any],
    db_rows: dict[str, tuple[int, str | None]] | None,
    limit: int | None,
    now: datetime,
) -> Table:
    names = sorted(set(st.get("symbols", {})) | set(db_rows or {}))
    shown = names if limit is None else _worst_first(st, names)[:limit]
    title = (
        "per symbol"
        if len(shown) == len(names)
        else (f"per symbol: {len(shown)} of {len(names)}, failing and least fresh first")
    )
    t = Table(title=title, title_justify="left")
    columns = ["symbol", "last new snapshot", "NSE time", "last outcome"]
    for name in columns + (["rows in DB"] if db_rows is not None else []):
        t.add_column(name)
    for sym in shown:
        s = st.get("symbols", {}).get(sym, {})
        outcome = s.get("last_outcome") or "-"
        cells: list[str | Text] = [
            sym,
            age(s.get("last_ok_at"), now),
            (s.get("exchange_ts") or "-")[11:19] or "-",
            Text(outcome, style="green" if outcome in ("ok", "stale") else "red"),
        ]
        if db_rows is not None:
            cells.append(f"{db_rows.get(sym, (0, None))[0]:,}")
        t.add_row(*cells)
    return t


def _clock(iso: str | None, now: datetime) -> str:
    """HH:MM:SS today, 'Wed 25-Nov 09:15' another day; '-' for none."""
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso)
    if moment.date() == now.astimezone(moment.tzinfo).date():
        return moment.strftime("%H:%M:%S")
    return f"{moment:%a %d-%b %H:%M}"


def _head(st: dict[str, Any], now: datetime) -> Text:
    col = st["collection_thread"]
    market = st.get("market") or {}
    phase = market.get("phase", "?")
    if market.get("reason"):
        phase += f" ({market['reason']})"
    return Text(
        f"market {phase} · next open {_clock(market.get('next_open'), now)} · "
        f"next tick {_clock(col.get('next_tick_at'), now)} · "
        f"rate {col.get('effective_rate', '-')} req/s · backlog {col.get('backlog_ticks', 0)} · "
        f"updated {age(st.get('updated_at'))} ago"
    )


def _secs(x: float | None) -> str:
    return "-" if x is None else (f"{x:.0f}s" if x < 120 else f"{x / 60:.1f}m")


def _schedule(st: dict[str, Any]) -> Table | None:
    """Achieved rate against the budget, achieved freshness per tier against the promise."""
    sched = st["collection_thread"].get("schedule")
    if not sched:
        return None
    got, ratio = sched.get("achieved_rps"), sched.get("achieved_over_budget")
    rate = (
        "achieved rate -"
        if got is None
        else f"achieved {got:.2f} of {sched['budget_rps']:g} req/s ({ratio:.0%} of the budget, "
        f"last {sched.get('rate_window_s') or 0:.0f} s)"
    )
    if sched.get("effective_budget_rps", sched["budget_rps"]) < sched["budget_rps"]:
        rate += f"; budget cut to {sched['effective_budget_rps']:.2f} after a block"
    t = Table(title=f"freshness per tier · {rate}", title_justify="left")
    for name in ("tier", "promise", "pairs fetched", "median gap", "max gap", "max/promise"):
        t.add_column(name)
    for tier in sched.get("tiers", []):
        over = tier.get("max_over_promise")
        t.add_row(
            tier["tier"],
            f"every {_secs(tier['promise_s'])}",
            f"{tier['pairs_fetched']}/{tier['pairs']}",
            _secs(tier.get("median_gap_s")),
            _secs(tier.get("max_gap_s")),
            Text("-" if over is None else f"{over:.2f}x", style="red" if (over or 0) > 1.1 else ""),
        )
    return t


def verdict_line(verdict: dict[str, Any], now: datetime | None = None) -> Text:
    """'● not recording since 09:15:03 — NSE is not answering: …' in the verdict's colour."""
    at = now if now is not None else now_ist()
    since = f" since {_clock(verdict['since'], at)}" if verdict.get("since") else ""
    line = Text(f"● {verdict['verdict']}{since}", style=_STYLE.get(verdict["verdict"], "bold"))
    line.append(f" — {verdict['reason']}")
    return line


def status_view(
    st: dict[str, Any],
    db_rows: dict[str, tuple[int, str | None]] | None = None,
    limit: int | None = None,
    verdict: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Group:
    """The verdict, the threads table, a one-line header, freshness per tier against the
    plan's promise, and per-symbol freshness.

    ``limit``: symbols shown at most (the live view). ``verdict``: the reader's (see
    ``health.reader_verdict``), else the one in ``st``. ``now``: the collector's market time
    (``clock_of``), which ticks, fetches and the next open are stamped in; default IST wall
    time. Status writes and loads are wall-stamped.
    """
    at = now if now is not None else now_ist()
    parts: list[Any] = [_threads(st, at), _head(st, at)]
    schedule = _schedule(st)
    if schedule is not None:
        parts.append(schedule)
    parts.append(_symbols(st, db_rows, limit, at))
    shown = verdict if verdict is not None else st.get("verdict")
    if isinstance(shown, dict):
        parts.insert(0, verdict_line(shown, at))
    return Group(*parts)
