"""The status file: ``data/status.json``, written and read — and checked when read.

Where it sits: the manager builds its status itself (``get_thread_status()``, from what each
part reports); its monitor thread writes it here atomically every few seconds so other
processes (``nsechain status``, the dashboard) can see what the collector is doing without
touching DuckDB. Only JSON-ready values go in (ISO strings for times).

Readers never trust the file: it may be from an older version, hand-edited, or written by
something else. ``load_status`` checks the shape the readers rely on (an aware ``updated_at``,
the two thread sections with their counters, per-symbol freshness) and says what is wrong in
one line instead of raising; ``read_status`` returns None then. Readers never rewrite it: the
running collector replaces it at its next write (every ``status_interval_s``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from nsechain.config import Settings
from nsechain.store.files import save_atomic

__all__ = ["load_status", "read_status", "settings_report", "write_status"]

log = logging.getLogger(__name__)


class _Shape(BaseModel):
    # Extra keys are fine (a newer collector may report more); missing or mistyped ones not.
    model_config = ConfigDict(extra="allow", strict=True)


class _Thread(_Shape):
    alive: bool
    restarts: int
    last_error: str | None = None


class _Collection(_Thread):
    last_tick_at: AwareDatetime | None = None
    next_tick_at: AwareDatetime | None = None
    ticks: int
    rows_written: int
    fetches: dict[str, int]
    tick_in_flight: tuple[int, int] | None = None
    effective_rate: float | None = None
    backlog_ticks: int = 0


class _Batch(_Thread):
    last_batch_at: AwareDatetime | None = None
    batches: int
    files_loaded: int
    rows_loaded: int
    pending_files: int
    lock_waits: int = 0


class _Lake(_Thread):
    last_commit_at: AwareDatetime | None = None
    commits: int
    files_committed: int
    lag_files: int
    errors: int


class _Freshness(_Shape):
    last_ok_at: AwareDatetime | None = None
    exchange_ts: AwareDatetime | None = None
    last_outcome: str | None = None


class _Status(_Shape):
    updated_at: AwareDatetime
    pid: int
    state: str
    collection_thread: _Collection
    batch_thread: _Batch
    lake_thread: _Lake | None = None  # only with a lake catalog
    symbols: dict[str, _Freshness] = {}
    market: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None


def settings_report(s: Settings, *, in_flight: int) -> dict[str, Any]:
    """The status's ``settings`` section: what this collector runs with."""
    return {
        "symbols": s.symbols,
        "rate": s.rate,
        "in_flight": in_flight,
        "interval_s": s.interval_s,
        "batch_interval_s": s.batch_interval_s,
        "status_interval_s": s.status_interval_s,
        "base_url": s.base_url,
        "db_path": str(s.db_path),
        "data_dir": str(s.data_dir),
    }


def write_status(path: Path, status: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(path, orjson.dumps(status, option=orjson.OPT_INDENT_2))


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the top level"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def load_status(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the status, None) if ``path`` holds a collector's status; else (None, what is wrong).

    An absent file is (None, None): no collector has run with this data dir.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: unreadable ({exc.strerror or exc})"
    try:
        _Status.model_validate_json(raw)  # strict in JSON: times must be ISO strings
        data = orjson.loads(raw)
    except ValidationError as exc:
        return None, f"{path}: not a collector status ({_problem(exc)})"
    except orjson.JSONDecodeError as exc:
        return None, f"{path}: not JSON ({exc})"
    return data, None


def read_status(path: Path) -> dict[str, Any] | None:
    """The last status a collector wrote, or None if there is none or it is not usable
    (logged: a running collector replaces it at its next write)."""
    data, problem = load_status(path)
    if problem is not None:
        log.warning("status ignored: %s; a running collector replaces it", problem)
    return data
