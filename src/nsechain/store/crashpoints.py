"""The store's crash points: where a test can SIGKILL the collector at a narrow window.

Where it sits: in the store, which owns its crash windows; imported by ``store.files`` (point
``write``: a tick file half written, no footer yet), ``store.batch`` (``load``: rows inserted,
transaction not committed) and ``store.loader`` (``move``: committed, files not yet moved to
processed). The harness (``chaos.crashloop``, above the product) imports ``POINTS`` from here,
starts the collector with the environment below, waits for the marker line, then kills it there.

    NSECHAIN_CHAOS_PAUSE=write|load|move   the point to stop at (unset: every call is a no-op)
    NSECHAIN_CHAOS_SKIP=N                  pass the point N times before stopping (default 0)
    NSECHAIN_CHAOS_PAUSE_S=S               how long to stop there (default 60 s)
    NSECHAIN_CHAOS_MARK=path               file to append "<point> <pid>" to on arrival

Cost when unset: the environment is read once at import; ``pause_point`` is one comparison.
These variables are not settings (``config.Settings`` ignores unknown NSECHAIN_ variables).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["POINTS", "pause_point"]

#: The pause points the store offers, in the order a tick file meets them.
POINTS: tuple[str, ...] = ("write", "load", "move")

_POINT = os.environ.get("NSECHAIN_CHAOS_PAUSE") or None
_SKIP = int(os.environ.get("NSECHAIN_CHAOS_SKIP") or 0)
_PAUSE_S = float(os.environ.get("NSECHAIN_CHAOS_PAUSE_S") or 60.0)
_MARK = os.environ.get("NSECHAIN_CHAOS_MARK") or None
_lock = threading.Lock()
_seen = 0


def pause_point(name: str) -> None:
    """Stop here for a while if the environment asks for point ``name``; else return at once."""
    if name != _POINT:
        return
    global _seen  # noqa: PLW0603 - one counter per process, by design
    with _lock:
        _seen += 1
        if _seen != _SKIP + 1:  # stop once per process, at the (SKIP+1)-th arrival
            return
    if _MARK is not None:
        with open(_MARK, "a", encoding="utf-8") as fh:  # noqa: PTH123 - no pathlib import cost
            fh.write(f"{name} {os.getpid()}\n")
            fh.flush()
            os.fsync(fh.fileno())
    time.sleep(_PAUSE_S)
