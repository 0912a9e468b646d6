"""Log handlers, configured once by the CLI: plain text, JSON lines, or rich above a live view.

Where it sits: at the edge. Library modules only call ``logging.getLogger(__name__)`` and log
one line per fetch / tick / load with stable ``key=value`` fields; this module decides where
those lines go.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import orjson
from rich.console import Console
from rich.logging import RichHandler

__all__ = ["configure_logging"]


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


def configure_logging(
    level: str = "INFO",
    fmt: Literal["text", "json"] = "text",
    console: Console | None = None,
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
    root = logging.getLogger("nsechain")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # httpx logs every request at INFO; ours already does, once, with more fields.
    logging.getLogger("httpx").setLevel(logging.WARNING)
