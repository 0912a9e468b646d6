"""Loaded only by ``make test-dates`` (PYTHONPATH=tests/faketime), in every Python process.

Debian's libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 breaks ``time.sleep`` on
Python >= 3.11: it sleeps with ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``, which
libfaketime shifts by the fake offset, and the kernel answers EINVAL (libfaketime issue #426).
Here ``time.sleep`` waits with ``select`` (a relative timeout libfaketime passes through) on
the real monotonic clock instead. Nothing else changes.
"""

from __future__ import annotations

import os
import select
import time

_monotonic = time.monotonic


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = _monotonic() + seconds
    while (left := deadline - _monotonic()) > 0:
        select.select([], [], [], left)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    time.sleep = _sleep
