"""The simulator's counters and its ``/__admin/`` endpoints.

Where it sits: ``server.py`` counts every request into ``Counters`` and hands ``/__admin/``
paths to ``admin()``. Tests and benchmarks read the counters to assert what a client did.

Endpoints (JSON in, JSON out; never rate-limited, cookie-gated or counted):

- ``GET /__admin/counters``: ``{"requests": {path: {status: n}}, "requests_total": n,
  "rate_limit": {"blocks": n, "refused": n}, "faults": {kind: n}, "bootstraps": n,
  "chains": {symbol: n}}``. A reset connection counts under status ``"reset"``.
- ``GET /__admin/faults``, ``POST /__admin/faults`` with ``{"kind": {...}}``: read or
  replace the active faults (see ``faults.py``); 400 with ``{"error": ...}`` if invalid.
- ``POST /__admin/reset``: zero the counters, lift blocks, restore the configured faults.
- ``GET /__admin/clock``, ``POST /__admin/clock`` with ``{"time": "2026-11-25T09:14",
  "speed": 60}`` (both optional): read or move the simulated clock.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import orjson

from nsechain.sim.render import nse_timestamp

if TYPE_CHECKING:
    from nsechain.sim.server import Simulator

__all__ = ["Counters", "admin"]


class Counters:
    """Thread-safe tallies of what the simulator served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._faults: Counter[str] = Counter()
            self._chains: Counter[str] = Counter()
            self._clients: Counter[str] = Counter()  # requests per client IP (per route)
            self._blocks = self._refused = self._bootstraps = 0

    def request(self, path: str, status: str) -> None:
        with self._lock:
            self._requests[path][status] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def client(self, ip: str) -> None:
        with self._lock:
            self._clients[ip] += 1

    def chain(self, symbol: str) -> None:
        with self._lock:
            self._chains[symbol] += 1

    def bootstrap(self) -> None:
        with self._lock:
            self._bootstraps += 1

    def rate_limited(self, tripped: bool) -> None:
        with self._lock:
            self._refused += 1
            self._blocks += tripped

    def reference(self) -> str:
        """An Akamai-style reference id for an error page (unique per page)."""
        with self._lock:
            self._refs += 1
            return f"18.{self._refs:x}.1700000000.{self._refs * 2654435761 % 2**32:08x}"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {p: dict(c) for p, c in self._requests.items()},
                "requests_total": sum(sum(c.values()) for c in self._requests.values()),
                "rate_limit": {"blocks": self._blocks, "refused": self._refused},
                "faults": dict(self._faults),
                "bootstraps": self._bootstraps,
                "chains": dict(self._chains),
                "clients": dict(self._clients),
            }


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def _clock(sim: Simulator) -> dict[str, Any]:
    snap = sim.snapshot()
    return {
        "now": sim.now().isoformat(timespec="seconds"),
        "speed": sim.clock.speed,
        "timestamp": nse_timestamp(snap.at),
        "marketOpen": snap.is_open,
    }


def admin(sim: Simulator, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Handle one ``/__admin/`` request: (HTTP status, JSON body)."""
    try:
        args = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        return 400, _json({"error": f"body is not JSON: {exc}"})
    if not isinstance(args, dict):
        return 400, _json({"error": "body must be a JSON object"})
    try:
        return _route(sim, method, path, args)
    except (ValueError, TypeError) as exc:
        return 400, _json({"error": str(exc)})


def _route(sim: Simulator, method: str, path: str, args: dict[str, Any]) -> tuple[int, bytes]:
    if path == "/__admin/counters" and method == "GET":
        return 200, _json(sim.counters())
    if path == "/__admin/faults":
        if method == "POST":
            sim.set_faults(args)
        return 200, _json({"faults": sim.faults.describe()})
    if path == "/__admin/reset" and method == "POST":
        sim.reset()
        return 200, _json({"ok": True})
    if path == "/__admin/clock":
        if method == "POST":
            speed = args.get("speed")
            sim.set_clock(args.get("time"), None if speed is None else float(speed))
        return 200, _json(_clock(sim))
    return 404, _json({"error": f"no admin endpoint {method} {path}"})
