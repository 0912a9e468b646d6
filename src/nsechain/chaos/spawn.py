"""Start ``nsechain collect`` as a child process, for the crash loop and the fault soak.

Where it sits: under both harnesses. The child gets a clean environment (no NSECHAIN_* from
the caller's shell) plus the settings each harness passes, and logs into ``log_path``. It
lives on the simulator's clock (``sim_clock_env``), not today's: the simulator replays a
fixed day, and the collector's calendar, tick names and timestamp rule must agree with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from nsechain.timeutil import now_ist

__all__ = ["sim_clock_env", "spawn_collector"]


def sim_clock_env(base_url: str) -> dict[str, str]:
    """``NSECHAIN_CLOCK_*`` that put a collector started now or later on the simulator's clock.

    The simulator's ``now`` and the wall time it was read at (``clock_anchor``): a child that
    takes a while to start still joins the running clock where it is then.
    """
    clock = httpx.get(f"{base_url}/__admin/clock", timeout=10).json()
    return {
        "NSECHAIN_CLOCK_START": str(clock["now"]),
        "NSECHAIN_CLOCK_SPEED": repr(float(clock["speed"])),
        "NSECHAIN_CLOCK_ANCHOR": now_ist().isoformat(),
    }


def spawn_collector(
    *,
    base_url: str,
    data_dir: Path,
    db_path: Path,
    symbols: str,
    interval_s: float,
    batch_interval_s: float,
    rate: float,
    workdir: Path,
    log_path: Path,
    env: Mapping[str, str],
    extra: tuple[str, ...] = (),
    ignore_market_hours: bool = True,
) -> subprocess.Popen[bytes]:
    """``python -m nsechain collect --no-live …`` against the simulator at ``base_url``.

    ``interval_s`` is wall seconds between ticks; the child's ``--interval`` is in its clock's
    seconds, so it is scaled by the simulator's speed (a stopped clock counts wall seconds).
    """
    clock = sim_clock_env(base_url)
    speed = float(clock["NSECHAIN_CLOCK_SPEED"]) or 1.0
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NSECHAIN_")},
        **clock,
        **env,
    }
    args = [
        sys.executable, "-m", "nsechain", "collect", "--no-live",
        "--base-url", base_url,
        "--data-dir", str(data_dir),
        "--db", str(db_path),
        "--symbols", symbols,
        "--interval", repr(interval_s * speed),
        "--batch-interval", str(batch_interval_s),
        "--rate", str(rate),
        *(["--ignore-market-hours"] if ignore_market_hours else []),
        *extra,
    ]  # fmt: skip
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=full_env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
