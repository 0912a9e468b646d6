"""The request budget: one thread-safe token bucket.

Where it sits: inside ``nse/client.py``. Every HTTP request a client sends (the cookie bootstrap
included) first takes a token here, so the configured req/s is a hard ceiling on what NSE sees
from us (DESIGN.md §2 "Rate", §5). The rate can be changed live, for an adaptive (AIMD) rate
that backs off after a block.

Waiting threads form a first-come first-served ``Line``: only the one at its head sleeps until
the next token, the others block on their own event until it leaves. A free token wakes one
thread, not every waiter (the collector has dozens of fetch workers waiting at once). The
tries that never wait (``try_acquire``, ``try_prepay``) take only a token left over once every
thread in line has one, so nobody jumps the line.

Clock and sleep are injected so tests run on fake time, and so the collector's stop can
interrupt a wait: ``sleep`` may raise ``errors.Interrupted``, which propagates unchanged; the
head that leaves on it hands the line on, so every waiter sees the stop in turn.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Line", "TokenBucket"]

_EPSILON = 1e-9


class Line:
    """A first-come first-served line: ``turn()`` blocks until every thread that came earlier
    has left it. Each waiter blocks on its own event, woken once, by the one before it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    @property
    def empty(self) -> bool:
        """Nobody waiting (a hint: a thread may join the line just after)."""
        return not self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    @contextmanager
    def turn(self, *, first: bool = False) -> Iterator[None]:
        """Wait for this thread's turn; ``first``: right after the thread served now."""
        me = threading.Event()
        with self._lock:
            if first and self._waiting:
                self._waiting.insert(1, me)
            else:
                self._waiting.append(me)
            if self._waiting[0] is me:
                me.set()
        try:
            me.wait()
            yield
        finally:
            with self._lock:
                self._waiting.remove(me)
                if self._waiting:
                    self._waiting[0].set()


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._check_rate(rate)
        self._rate = float(rate)
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()
        self._granted = 0
        self._prepaid = threading.local()
        self._line = Line()

    @staticmethod
    def _check_rate(rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 requests/s, got {rate}")

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Most tokens the bucket holds."""
        return self._burst

    @property
    def granted(self) -> int:
        """Tokens handed out since creation (the number of requests let through)."""
        return self._granted

    @property
    def waiting(self) -> int:
        """Threads in line for a token now (the one at its head included)."""
        return len(self._line)

    def set_rate(self, rate: float) -> None:
        """Change the refill rate from now on; tokens already earned are kept."""
        self._check_rate(rate)
        with self._lock:
            # Credit the time elapsed so far at the old rate before switching.
            self._refill()
            self._rate = float(rate)

    def try_acquire(self) -> bool:
        """Take a token if one is spare now; never waits. A token owed to a thread in line is
        not spare: a try never goes ahead of the line (``_take_spare``)."""
        with self._lock:
            return self._take_spare() == 0.0

    def prepay(self) -> None:
        """Take a token now (waiting for it) for this thread's next ``acquire``.

        A scheduler with several workers takes the token first and only then picks what to
        send, so whichever worker gets the token sends the most overdue request. The token
        is this thread's until its next ``acquire`` uses it or ``refund`` returns it.
        """
        self.acquire()
        self._prepaid.held = True

    def try_prepay(self) -> float:
        """``prepay`` without waiting: 0 when a token was taken and held for this thread's next
        ``acquire``, else the seconds until one is spare (for a pool of buckets, one per route:
        the pool's workers wait in the pool's line, so here they come after this route's own
        line, the cookie bootstrap and the holiday list among it)."""
        with self._lock:
            wait = self._take_spare()
        if wait == 0.0:
            self._prepaid.held = True
        return wait

    def refund(self) -> None:
        """Give back this thread's unused prepaid token (nothing was sent with it)."""
        if getattr(self._prepaid, "held", False):
            self._prepaid.held = False
            with self._lock:
                self._refill()
                self._tokens = min(self._cap(), self._tokens + 1.0)
                self._granted -= 1

    def acquire(self, *, first: bool = False) -> None:
        """Take a token, waiting (through the injected sleep) until one is available.

        ``first`` goes ahead of every waiter but the one served now (the client's cookie
        bootstrap and holiday list: ``nse/client.py``)."""
        if getattr(self._prepaid, "held", False):
            self._prepaid.held = False  # taken by ``prepay``: already counted
            return
        with self._lock:
            if self._line.empty and self._take() == 0.0:
                return  # nobody waiting: no line to join
        with self._line.turn(first=first):
            while True:
                with self._lock:
                    wait = self._take()
                if wait == 0.0:
                    return
                # Sleep outside the lock (try_acquire stays instant); re-check after waking:
                # the rate may have dropped (a try leaves the line's tokens alone).
                self._sleep(wait)

    def _take(self) -> float:
        """Under the lock: take a token and return 0, or return the seconds until one exists."""
        self._refill()
        # The epsilon absorbs float rounding: after sleeping exactly the computed wait the
        # bucket may hold 0.9999999999, and a clock with coarse resolution would then make
        # us sleep ~0 seconds forever.
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            self._granted += 1
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def _take_spare(self) -> float:
        """``_take`` for a caller outside the line: only a token left over once every thread
        in line has one, else the seconds until there is. Without it a try took the token
        the head of the line slept for, and the head slept again: FIFO held only among
        ``acquire`` callers, and a bootstrap sent ``first`` could wait behind a pool's tries."""
        owed = len(self._line)  # a hint read without the line's lock: a new waiter is late
        if owed == 0:
            return self._take()
        self._refill()
        if self._tokens >= owed + 1.0 - _EPSILON:
            self._tokens -= 1.0
            self._granted += 1
            return 0.0
        return (owed + 1.0 - self._tokens) / self._rate

    def _refill(self) -> None:
        now = self._clock()
        # max(): a clock that steps back (a fake one in tests) must not drain the bucket.
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self._cap(), self._tokens + elapsed * self._rate)
        self._last = now

    def _cap(self) -> float:
        """The most tokens saved: ``burst``, one more while threads wait in line. The head of
        the line wakes late on a busy machine (the OS, the GIL): at burst 1 the token that
        accrued meanwhile was lost, ~10 % of the budget at 10 req/s beside parsing threads.
        So over any window the requests stay within ``burst + 1 + rate × window``."""
        return float(self._burst + (0 if self._line.empty else 1))
