"""The status file: ``data/status.json``, written and read.

Where it sits: the manager builds its status itself (``get_thread_status()``, from what each
part reports); its monitor thread writes it here atomically every few seconds so other
processes (``nsechain status``, the dashboard) can see what the collector is doing without
touching DuckDB. Only JSON-ready values go in (ISO strings for times).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from nsechain.store.files import save_atomic

__all__ = ["read_status", "write_status"]


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
