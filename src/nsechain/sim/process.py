"""Run the simulator in a child process, so it never competes with the caller for the GIL.

Where it sits: next to ``server.Simulator``, for benchmarks, load tests and ``make demo``,
where a collector in the same process would share one interpreter lock with the
simulator and each would slow the other down. Controls go over HTTP (``/__admin/``)::

    with SimulatorProcess(SimConfig(speed=60, start="2026-11-25T09:14")) as sim:
        run_collector(base_url=sim.base_url)
        print(sim.counters())
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

import httpx

from nsechain.sim.server import SimConfig, Simulator

__all__ = ["SimulatorProcess"]


def _serve(config: SimConfig, conn: Connection) -> None:
    with Simulator(config) as sim:
        conn.send(sim.port)
        conn.recv()  # any message, or the parent's end closing, means stop
    conn.close()


class SimulatorProcess:
    """A ``Simulator`` in a spawned child process; a context manager like ``Simulator``."""

    def __init__(self, config: SimConfig | None = None, start_timeout_s: float = 30.0) -> None:
        self.config = config or SimConfig()
        self.start_timeout_s = start_timeout_s
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._port: int | None = None

    def start(self) -> SimulatorProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.config, child), name="nse-sim")
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout_s):
            self.stop()
            raise RuntimeError("the simulator process did not start in time")
        self._port = int(parent.recv())
        return self

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                self._conn.send("stop")
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join()
            self._proc.close()
            self._proc = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the simulator process is not running; call start() first")
        return f"http://{self.config.host}:{self._port}"

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = httpx.request(method, f"{self.base_url}/__admin/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json()

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "counters")
        return result

    def reset(self) -> None:
        self._admin("POST", "reset")

    def set_faults(self, faults: dict[str, Any]) -> None:
        self._admin("POST", "faults", faults)

    def set_clock(self, start: str | None = None, speed: float | None = None) -> None:
        self._admin("POST", "clock", {"time": start, "speed": speed})
