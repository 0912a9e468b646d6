"""Start ``nsechain collect`` as a child process, for the crash loop and the fault soak.

Where it sits: under both harnesses. The child gets a clean environment (no NSECHAIN_* from
the caller's shell) plus the settings each harness passes, and logs into ``log_path``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["spawn_collector"]


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
) -> subprocess.Popen[bytes]:
    """``python -m nsechain collect --no-live --ignore-market-hours …`` against ``base_url``."""
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NSECHAIN_")},
        # The simulator replays another day than the wall clock's: no timestamp rule.
        "NSECHAIN_CHECK_EXCHANGE_TS": "false",
        **env,
    }
    args = [
        sys.executable, "-m", "nsechain", "collect", "--no-live",
        "--base-url", base_url,
        "--data-dir", str(data_dir),
        "--db", str(db_path),
        "--symbols", symbols,
        "--interval", str(interval_s),
        "--batch-interval", str(batch_interval_s),
        "--rate", str(rate),
        "--ignore-market-hours",
        *extra,
    ]  # fmt: skip
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=full_env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
