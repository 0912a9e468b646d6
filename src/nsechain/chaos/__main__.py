"""``python -m nsechain.chaos``: the crash loop and the fault soak.

Examples::

    python -m nsechain.chaos crashloop --kills 50   # 10 kills of each kind (~2 minutes)
    python -m nsechain.chaos soak                   # one faulty trading day (~7 minutes)
    python -m nsechain.chaos all --kills 50 --workdir /tmp/chaos   # both, data kept
    python -m nsechain.chaos --kills 50 [--soak]    # no command: the crash loop (and soak)

Prints a summary per part; exits 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from nsechain.chaos.crashloop import KINDS, CrashConfig, run_crash_loop
from nsechain.chaos.soak import SoakConfig, run_soak
from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m nsechain.chaos",
        description="Kill the collector at aimed moments and check nothing is lost, "
        "duplicated or corrupt; optionally soak it in a day of NSE faults.",
    )
    p.add_argument(
        "command",
        nargs="?",
        choices=("crashloop", "soak", "all"),
        default="crashloop",
        help="what to run (default: crashloop; add --soak to run the soak after it)",
    )
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs in the crash loop (0: none)")
    p.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"kinds of kill, used in turn (default {','.join(KINDS)})",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of kinds, skips and delays")
    p.add_argument(
        "--readers", type=int, default=0, help="crashloop: reader threads storming the database"
    )
    p.add_argument("--soak", action="store_true", help="with crashloop: then run the soak")
    p.add_argument("--soak-speed", type=float, default=60.0, help="simulated s per wall s")
    p.add_argument("--soak-rate", type=float, default=40.0, help="collector budget, req/s")
    p.add_argument("--soak-start", default="09:14:00", help="simulated start (IST) of the soak")
    p.add_argument("--workdir", type=Path, help="where to keep data (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp workdir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        print(f"error: --kinds: unknown {unknown}; known: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    root = args.workdir or Path(tempfile.mkdtemp(prefix="nsechain-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        crash_wanted = args.command in ("crashloop", "all") and args.kills > 0
        soak_wanted = args.command in ("soak", "all") or args.soak
        if crash_wanted:
            cfg = CrashConfig(
                root / "crash", kills=args.kills, seed=args.seed, kinds=kinds, readers=args.readers
            )
            cfg.workdir.mkdir(parents=True, exist_ok=True)
            sim_cfg = SimConfig(seed=args.seed, speed=10, start="2026-11-25T09:20:00")
            with SimulatorProcess(sim_cfg) as sim:
                crash = run_crash_loop(cfg, sim, progress=lambda line: print(line, flush=True))
            print(crash.summary(), flush=True)
            ok &= crash.ok
        if soak_wanted:
            soak_cfg = SoakConfig(
                root / "soak",
                seed=args.seed + 10,
                speed=args.soak_speed,
                rate=args.soak_rate,
                start=args.soak_start,
            )
            soak = run_soak(soak_cfg, progress=lambda line: print(line, flush=True))
            print(soak.summary(), flush=True)
            ok &= soak.ok
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"data kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
