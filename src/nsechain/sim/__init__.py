"""nsechain.sim: a simulated NSE over loopback, for the demo, end-to-end tests and load tests.

Where it sits: beside ``nse/`` (the real client), never imported by the collector itself.
It serves NSE's paths with NSE's bytes (v3 and NextApi option chains, contract-info,
underlying-information, holiday-master, marketStatus, the bootstrap pages and every error
page), gates them like NSE (cookies, a per-client rate limit) and injects NSE's failure modes
on demand.

Modules, bottom up: ``universe`` (5 indices + 208 stocks), ``calendar`` (FO holidays,
sessions, expiry rules), ``pricing`` (Black-Scholes, IV, hashing), ``quotes`` (one leg at one
snapshot), ``market`` (spot paths, listed contracts, chains), ``clock`` (simulated time,
snapshot instants), ``render`` (JSON shapes), ``pages`` (HTML pages), ``gate`` (cookies, rate
limit), ``faults``, ``routes`` (the /api/ endpoints and the render cache), ``admin``
(counters, /__admin/), ``server`` (``Simulator``), ``process`` (``SimulatorProcess``: the same
in a child process). ``nsechain simulate`` lives in ``cli/simulate.py``.

Typical use in a test::

    with Simulator(SimConfig(seed=1, speed=60, start="2026-11-25T09:14", rate_limit=3)) as sim:
        ...  # point a client at sim.base_url
        sim.set_faults({"reset": {"every": 10}})
        assert sim.counters()["faults"]["reset"] >= 1
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nsechain.sim.faults import KINDS as FAULT_KINDS
    from nsechain.sim.faults import FaultSpec
    from nsechain.sim.process import SimulatorProcess
    from nsechain.sim.server import SimConfig, Simulator

__all__ = ["FAULT_KINDS", "FaultSpec", "SimConfig", "Simulator", "SimulatorProcess"]

# Imported on first use: a light submodule (``sim.latency`` for the CLI's defaults) must not
# pull in the whole server, so ``nsechain --help`` stays fast.
_WHERE = {
    "FAULT_KINDS": ("nsechain.sim.faults", "KINDS"),
    "FaultSpec": ("nsechain.sim.faults", "FaultSpec"),
    "SimConfig": ("nsechain.sim.server", "SimConfig"),
    "Simulator": ("nsechain.sim.server", "Simulator"),
    "SimulatorProcess": ("nsechain.sim.process", "SimulatorProcess"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'nsechain.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(where[0]), where[1])
