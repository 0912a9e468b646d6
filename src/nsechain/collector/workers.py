"""Supervised worker threads and an interruptible sleep.

Where it sits: under ``OptionsThreadedManager``. A ``Worker`` runs one loop function on its own
thread; if the loop dies with an unexpected exception the supervisor (the manager's monitor
thread) restarts it with exponential backoff and counts the restart. ``StopToken`` is the one
stop flag every loop and every sleep watches, so a stop never waits out a long sleep.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from nsechain.errors import Interrupted

__all__ = ["StopToken", "Worker"]

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 60.0


class StopToken:
    """A stop flag with an interruptible sleep (cf. dlt's ``signals.sleep``)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the stop came first."""
        return self._event.wait(max(0.0, seconds))

    def sleep(self, seconds: float) -> None:
        """Sleep, or raise ``Interrupted`` as soon as a stop is requested."""
        if self._event.wait(max(0.0, seconds)):
            raise Interrupted("stop requested")

    @property
    def event(self) -> threading.Event:
        return self._event


class Worker:
    """One named loop on a daemon thread, restartable after it dies."""

    def __init__(self, name: str, loop: Callable[[], None]) -> None:
        self.name = name
        self._loop = loop
        self._thread: threading.Thread | None = None
        # Set when the loop has returned. ``alive`` and ``join`` read this, never the thread:
        # CPython <= 3.12 races when two threads join (or join and is_alive) one thread at
        # once (python/cpython#116372), and the batch loop and stop both join the collector.
        self._done = threading.Event()
        self.restarts = 0
        self.last_crash: str | None = None
        self._next_restart_at = 0.0

    def start(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nsechain-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        done = self._done
        try:
            self._loop()
        except Interrupted:
            pass
        except Exception as exc:
            # Let the thread die; the supervisor restarts it. Keep the reason for the status.
            self.last_crash = f"{type(exc).__name__}: {exc}"
            log.error(
                "thread crashed name=%s error=%r\n%s",
                self.name,
                self.last_crash,
                traceback.format_exc(),
            )
        finally:
            done.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def report(self) -> dict[str, Any]:
        """This thread's part of the status."""
        return {"alive": self.alive, "restarts": self.restarts}

    def supervise(self, stopping: bool) -> None:
        """Restart a dead thread, waiting 1, 2, 4 … 60 s between restarts."""
        if self.alive or stopping or self._thread is None:
            return
        now = time.monotonic()
        if now < self._next_restart_at:
            return
        self.restarts += 1
        delay = min(RESTART_BACKOFF_MAX_S, 2.0 ** (self.restarts - 1))
        self._next_restart_at = now + delay
        log.warning(
            "thread restart name=%s restarts=%d next_backoff_s=%.0f",
            self.name,
            self.restarts,
            delay,
        )
        self.start()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._done.wait(max(0.0, timeout))
        return not self.alive
