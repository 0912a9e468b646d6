"""Fault injection: which of NSE's failure modes hits a given API request.

Where it sits: ``server.py`` asks a ``FaultPlan`` once per ``/api/`` request that passed the
cookie gate and the rate limit, then acts out the faults it returns.

Kinds (``KINDS``), each off by default:

- ``error_5xx``: an HTML 5xx page (``status``, default 503);
- ``empty``: HTTP 200 with the body ``{}``;
- ``block``: Akamai's 403 "Access Denied" page (a one-off: it does not block the client);
- ``truncate``: the JSON cut to ``fraction`` of its length, with a matching Content-Length;
- ``slow``: the answer is held back ``delay_s`` seconds (combines with any other fault);
- ``reset``: the connection is closed with a TCP RST before any byte is sent;
- ``br``: ``Content-Encoding: br`` on bytes that are not Brotli (NSE's undecodable bodies);
- ``stale``: a chain repeats the previous snapshot served for the same (symbol, expiry),
  timestamp included (never fires on the first request for a chain).

A fault fires when any of its triggers does: ``probability`` (a seeded draw per request),
``every`` (the Nth, 2Nth, ... request it could apply to) or ``windows`` (simulated IST
time-of-day ranges ``("11:00", "11:05")``). ``paths`` limits it to paths starting with one of
the given prefixes (default: every ``/api/`` path); ``symbols`` to requests for those symbols
(a pair that answers slowly while the others do not).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, time
from typing import Any

__all__ = ["KINDS", "FaultPlan", "FaultSpec", "parse_faults"]

#: Order of precedence when several fire: nothing after "reset" is sent; "slow" adds a delay.
KINDS = ("reset", "slow", "block", "error_5xx", "empty", "truncate", "br", "stale")

_CHAIN_PATHS = ("/api/option-chain-v3", "/api/NextApi/apiClient/GetQuoteApi")


@dataclass(frozen=True)
class FaultSpec:
    """When one kind of fault fires, and its parameters."""

    probability: float = 0.0
    every: int = 0
    windows: tuple[tuple[str, str], ...] = ()
    paths: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    status: int = 503  #: error_5xx only
    delay_s: float = 2.0  #: slow only
    fraction: float = 0.5  #: truncate only

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.every < 0 or self.delay_s < 0 or not 0.0 <= self.fraction < 1.0:
            raise ValueError("every and delay_s must be >= 0, fraction within [0, 1)")
        if not 500 <= self.status <= 599:
            raise ValueError("status must be a 5xx code")
        for start, end in self.windows:
            time.fromisoformat(start), time.fromisoformat(end)

    @property
    def active(self) -> bool:
        return bool(self.probability or self.every or self.windows)

    def applies_to(self, path: str, symbol: str | None = None) -> bool:
        in_paths = not self.paths or path.startswith(self.paths)
        return in_paths and (not self.symbols or symbol in self.symbols)

    def in_window(self, now: datetime) -> bool:
        t = now.time()
        return any(time.fromisoformat(a) <= t < time.fromisoformat(b) for a, b in self.windows)


def parse_faults(raw: Mapping[str, Any]) -> dict[str, FaultSpec]:
    """``{"reset": {"probability": 0.1}, "slow": {"every": 3, "delay_s": 0.5}}`` → specs.

    Also accepts a bare number as a probability (``{"empty": 0.05}``). Unknown kinds or
    fields raise ``ValueError`` naming them.
    """
    known = {f.name for f in fields(FaultSpec)}
    out = {}
    for kind, value in raw.items():
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if isinstance(value, FaultSpec):
            out[kind] = value
            continue
        given = {"probability": float(value)} if isinstance(value, int | float) else value
        if not isinstance(given, Mapping):
            raise ValueError(f"fault {kind!r}: give an object or a probability")
        extra = set(given) - known
        if extra:
            raise ValueError(f"fault {kind!r}: unknown fields {sorted(extra)}")
        args = dict(given)
        if "windows" in args:
            args["windows"] = tuple((str(a), str(b)) for a, b in args["windows"])
        for name in ("paths", "symbols"):
            if name in args:
                args[name] = tuple(str(p) for p in args[name])
        out[kind] = FaultSpec(**args)
    return out


@dataclass
class FaultPlan:
    """The active faults and their per-kind request counters. Thread-safe."""

    specs: dict[str, FaultSpec]
    seed: int = 0
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def replace(self, specs: dict[str, FaultSpec]) -> None:
        with self._lock:
            self.specs = dict(specs)
            self._seen.clear()
            self._rng = random.Random(self.seed)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {k: asdict(s) for k, s in self.specs.items()}

    def draw(self, path: str, sim_now: datetime, symbol: str | None = None) -> dict[str, FaultSpec]:
        """The faults that fire for this request, in ``KINDS`` order, with their specs."""
        fired = {}
        with self._lock:
            for kind in KINDS:
                spec = self.specs.get(kind)
                if spec is None or not spec.active or not spec.applies_to(path, symbol):
                    continue
                if kind == "stale" and not path.startswith(_CHAIN_PATHS):
                    continue
                n = self._seen[kind] = self._seen.get(kind, 0) + 1
                hit = bool(spec.every) and n % spec.every == 0
                # Draw even when another trigger hit, so one kind's schedule never shifts
                # another's random sequence.
                hit = (self._rng.random() < spec.probability) or hit
                if hit or (spec.windows and spec.in_window(sim_now)):
                    fired[kind] = spec
        return fired
