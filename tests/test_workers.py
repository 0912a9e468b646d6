"""Supervised threads: a crashed loop is restarted with backoff and counted; stops interrupt."""

from __future__ import annotations

import threading

import pytest

from nsechain.collector.workers import StopToken, Worker
from nsechain.errors import Interrupted


def test_sleep_raises_interrupted_once_stopped() -> None:
    token = StopToken()
    token.set()
    with pytest.raises(Interrupted):
        token.sleep(60)  # returns at once: the stop is already set
    assert token.wait(60) is True


def test_a_crashed_loop_is_restarted_and_counted() -> None:
    runs: list[int] = []
    done = threading.Event()

    def loop() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("boom")
        done.set()

    w = Worker("t", loop)
    w.start()
    w.join(5)
    assert not w.alive
    assert w.last_crash == "RuntimeError: boom"
    w.supervise(stopping=False)
    assert done.wait(5)
    assert w.restarts == 1
    w.join(5)
    w.supervise(stopping=False)  # within the backoff window: no second restart yet
    assert w.restarts == 1


def test_no_restart_while_stopping() -> None:
    w = Worker("t", lambda: None)
    w.start()
    w.join(5)
    w.supervise(stopping=True)
    assert w.restarts == 0
