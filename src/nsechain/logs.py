"""Log handlers, configured once by the CLI: plain text, JSON lines, or rich above a live view.

Where it sits: at the edge (ground floor: anything may import it). Library modules only call
``logging.getLogger(__name__)`` and log one line per fetch / interval / load with stable
``key=value`` fields; this module decides where those lines go, and collapses repeats: the
same warning (the same words once the symbol, expiry, timings and URL are set aside) within a
minute goes out once, and the next one after that minute carries the count of those held
back. ``flush_repeats()`` says the counts still held (the manager calls it every interval and
at the stop), so nothing is hidden for long.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import orjson
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["RepeatCollapser", "configure_logging", "flush_repeats"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


#: Fields whose values differ between otherwise identical warnings (one per symbol, request).
_VOLATILE = re.compile(
    r"\b(symbol|expiry|ms|bytes|attempt|seconds|url|file|at|name)=('[^']*'|\"[^\"]*\"|\S+)"
)
_SYMBOL = re.compile(r"\bsymbol=(\S+)")
#: Symbols named in a collapsed line at most.
_NAMED = 8


@dataclass
class _Held:
    first_at: float
    record: logging.LogRecord
    count: int = 0  # held back since first_at
    symbols: dict[str, None] = field(default_factory=dict)  # ordered set


class RepeatCollapser(logging.Filter):
    """A handler filter: identical warnings (and worse) in ``window_s`` go out once, counted.

    The first of a kind passes. Those after it within the window are held back and counted.
    The first one after the window passes with "(+N like it in the last 60 s: symbols …)"
    and opens a new window, so a failure that lasts all day is one line a minute, not one a
    request. INFO and DEBUG lines are never held.
    """

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[tuple[str, int, str], _Held] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "nsechain_collapsed", False):
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, _VOLATILE.sub(r"\1=…", message))
        now = self._clock()
        with self._lock:
            held = self._held.get(key)
            if held is not None and now - held.first_at < self.window_s:
                held.count += 1
                held.record = record
                for sym in _SYMBOL.findall(message):
                    if sym != "-":  # the bootstrap page, the universe: no symbol
                        held.symbols.setdefault(sym)
                return False
            self._held[key] = _Held(now, record)
        if held is not None and held.count:
            _with_count(record, held, now)
        return True

    def flush(self, handler: logging.Handler, *, force: bool = False) -> None:
        """Say the counts held back whose window has ended (``force``: all of them)."""
        now = self._clock()
        with self._lock:
            due = [
                (key, held)
                for key, held in self._held.items()
                if held.count and (force or now - held.first_at >= self.window_s)
            ]
            for key, _ in due:
                del self._held[key]
        for _, held in due:
            record = copy.copy(held.record)
            _with_count(record, held, now)
            handler.handle(record)


def _with_count(record: logging.LogRecord, held: _Held, now: float) -> None:
    """Make ``record`` say how many like it were held back, and for which symbols."""
    names = list(held.symbols)
    syms = ", ".join(names[:_NAMED]) + (
        f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    )
    record.msg = (
        f"{record.getMessage()} (+{held.count} like it in the last {now - held.first_at:.0f} s"
        f"{f': symbols {syms}' if syms else ''})"
    )
    record.args = None
    record.nsechain_collapsed = True


def flush_repeats(*, force: bool = False) -> None:
    """Say what the collapsing filters of nsechain's handlers hold (see ``RepeatCollapser``)."""
    for handler in logging.getLogger("nsechain").handlers:
        for f in handler.filters:
            if isinstance(f, RepeatCollapser):
                f.flush(handler, force=force)


def configure_logging(
    level: str = "INFO",
    fmt: Literal["text", "json"] = "text",
    console: Console | None = None,
    *,
    repeat_window_s: float = 60.0,
) -> None:
    """Route nsechain's loggers. With ``console`` (a live view is running) use rich."""
    handler: logging.Handler
    if console is not None and fmt == "text":
        handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter()
            if fmt == "json"
            else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s %(message)s")
        )
    handler.addFilter(RepeatCollapser(repeat_window_s))
    root = logging.getLogger("nsechain")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # httpx logs every request at INFO; ours already does, once, with more fields.
    logging.getLogger("httpx").setLevel(logging.WARNING)
