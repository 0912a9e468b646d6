"""The crash loop: SIGKILL a collector subprocess at aimed moments, restart it, check the store.

Where it sits: driven by ``python -m nsechain.chaos`` (``make chaos``: 50+ kills) and by
``tests/test_chaos.py`` (one kill per kind). The collector runs as ``python -m nsechain
collect`` against a simulator (``sim.Simulator`` in this process or ``sim.SimulatorProcess``);
afterwards ``chaos.checks.check_store`` judges the data dir and the DuckDB file.

Kinds of kill, each aimed at one window of DESIGN.md §6:

* ``fetch``: the simulator holds every chain request (its ``slow`` fault); the kill lands
  while the collector waits for the answer;
* ``write``: pause point ``write`` (``store.crashpoints``): a tick file half written under its temp
  name, no Parquet footer yet;
* ``load``: pause point ``load``: the batch's rows inserted, the transaction not committed;
* ``move``: pause point ``move``: the batch committed, its files still pending;
* ``random``: no aim, a kill at a random moment of a running collector.

The pause points stop the collector at the (SKIP+1)-th arrival, SKIP drawn at random, so kills
land on different ticks and batches. After each kill the next start must sweep the temp files
the kill left (checked as soon as the restarted collector says it has started). A last run with
``--once`` loads what the kills left pending; then the store is checked.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nsechain.chaos.checks import StoreReport, check_store, temp_files
from nsechain.chaos.readers import ReaderStorm, count_refused_loads, load_waits_ms
from nsechain.chaos.spawn import spawn_collector
from nsechain.store.crashpoints import POINTS

__all__ = ["KINDS", "CrashConfig", "CrashResult", "SimControl", "run_crash_loop"]

KINDS: tuple[str, ...] = ("fetch", *POINTS, "random")

_STARTED = b"collector started"
_CHAIN = "/api/option-chain-v3"


class SimControl(Protocol):
    """What the loop needs of a simulator: ``Simulator`` and ``SimulatorProcess`` both fit."""

    @property
    def base_url(self) -> str: ...
    def counters(self) -> dict[str, Any]: ...
    def set_faults(self, faults: dict[str, Any]) -> None: ...


@dataclass
class CrashConfig:
    """One crash loop. ``workdir`` receives ``data/``, ``chain.duckdb`` and ``logs/``."""

    workdir: Path
    kills: int = 50
    seed: int = 1
    kinds: tuple[str, ...] = KINDS
    symbols: str = "NIFTY,RELIANCE,M&M"
    interval_s: float = 0.5
    batch_interval_s: float = 1.0
    arrival_timeout_s: float = 60.0  # to reach the aimed point; the kill is counted missed after
    readers: int = 0  # a reader storm beside the collector (chaos/readers.py); 0: none
    final_timeout_s: float = 180.0

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def db_path(self) -> Path:
        return self.workdir / "chain.duckdb"


@dataclass
class Kill:
    n: int
    kind: str
    aimed: bool  # True: the collector was at the aimed point when killed
    temp_left: int  # temp files the kill left behind
    swept: bool | None = None  # the next recovery removed them (None: not checked yet)
    seconds: float = 0.0


@dataclass
class CrashResult:
    kills: list[Kill] = field(default_factory=list)
    final_rc: int | None = None
    store: StoreReport | None = None
    restarts: int = 0
    seconds: float = 0.0
    readers: int = 0
    reads: Counter[str] = field(default_factory=Counter)  # how the storm's reads ended
    refused_loads: int = 0  # "load waiting" lines in the collector logs
    load_waits_ms: list[int] = field(default_factory=list)  # each load's wait for the file

    def by_kind(self) -> Counter[str]:
        return Counter(k.kind for k in self.kills)

    @property
    def survived(self) -> list[Kill]:
        """Kills at the aimed point after which the next start swept every leftover temp file."""
        return [k for k in self.kills if k.aimed and k.swept is not False]

    @property
    def ok(self) -> bool:
        return (
            self.final_rc == 0
            and self.store is not None
            and self.store.ok
            and len(self.survived) == len(self.kills)
        )

    def _storm_lines(self) -> list[str]:
        if not self.readers:
            return []
        reads = ", ".join(f"{k}={v}" for k, v in sorted(self.reads.items())) or "none"
        return [
            f"  reader storm       {self.readers} readers: {reads}",
            f"  refused loads      {self.refused_loads} ('load waiting' in the collector logs)",
            f"  load waits         {self._waits()}",
        ]

    def _waits(self) -> str:
        w = sorted(self.load_waits_ms)
        if not w:
            return "no load logged"
        late = sum(1 for ms in w if ms > 5000)
        return (
            f"{len(w)} loads waited for the file: median {w[len(w) // 2]} ms, "
            f"max {w[-1]} ms, over 5 s {late} (wait_ms in the collector logs)"
        )

    def summary(self) -> str:
        s = self.store or StoreReport()
        total = self.by_kind()
        survived = Counter(k.kind for k in self.survived)
        per_kind = ", ".join(f"{k} {survived[k]}/{total[k]}" for k in KINDS if k in total)
        missed = [k for k in self.kills if not k.aimed]
        unswept = [k for k in self.kills if k.swept is False]
        lines = [
            "nsechain chaos: crash loop",
            f"  kills survived     {len(self.survived)}/{len(self.kills)}  ({per_kind})",
            f"  missed the aim     {len(missed)}",
            f"  temp files left by kills  {sum(k.temp_left for k in self.kills)}, "
            f"not swept on restart {len(unswept)}",
            f"  restarts           {self.restarts} (final --once run exit {self.final_rc})",
            f"  tick files         {s.processed_files} processed, {s.pending_files} pending",
            f"  rows               {s.db_rows} in DuckDB, {s.file_rows} in tick files",
            f"  fetch_log rows     {s.db_fetch_rows} in DuckDB, {s.file_fetch_rows} in tick files",
            f"  duplicates         {s.duplicates}",
            f"  snapshot_atm off   {s.atm_mismatch} snapshots",
            f"  corrupt files      {len(s.corrupt)}",
            f"  temp files left    {len(s.temp_left)}",
            f"  missing in DuckDB  {s.missing_keys} quote keys, {s.missing_snapshots} snapshots, "
            f"{len(s.manifest_missing)} files",
            *self._storm_lines(),
            f"  time               {self.seconds:.0f} s",
            f"  verdict            {'PASS' if self.ok else 'FAIL'}",
        ]
        lines += [f"  problem: {p}" for p in s.problems()]
        return "\n".join(lines)


def _collector(
    cfg: CrashConfig, base_url: str, log_path: Path, env: Mapping[str, str], *extra: str
) -> subprocess.Popen[bytes]:
    return spawn_collector(
        base_url=base_url,
        data_dir=cfg.data_dir,
        db_path=cfg.db_path,
        symbols=cfg.symbols,
        interval_s=cfg.interval_s,
        batch_interval_s=cfg.batch_interval_s,
        rate=100,
        workdir=cfg.workdir,
        log_path=log_path,
        env={
            "NSECHAIN_BURST": "10",
            "NSECHAIN_BACKOFF_BASE_S": "0.01",
            "NSECHAIN_BACKOFF_MAX_S": "0.2",
            "NSECHAIN_STATUS_INTERVAL_S": "0.2",
            "NSECHAIN_EXPIRIES_PER_SYMBOL": "2",
            **env,
        },
        extra=extra,
    )


def _wait(cond: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    """Poll ``cond`` until true, the timeout, or the process ending (then False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(0.02)
    return False


def _arrived(mark: Path, point: str, pid: int) -> bool:
    try:
        text = mark.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return f"{point} {pid}" in text.splitlines()


def _faults_fired(sim: SimControl, kind: str) -> int:
    return int(sim.counters().get("faults", {}).get(kind, 0))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def _pause_env(kind: str, rng: random.Random, mark: Path) -> dict[str, str]:
    if kind not in POINTS:
        return {}
    return {
        "NSECHAIN_CHAOS_PAUSE": kind,
        "NSECHAIN_CHAOS_SKIP": str(rng.randint(0, 2)),
        "NSECHAIN_CHAOS_MARK": str(mark),
        "NSECHAIN_CHAOS_PAUSE_S": "120",
    }


def _aim(
    kind: str,
    proc: subprocess.Popen[bytes],
    cfg: CrashConfig,
    sim: SimControl,
    rng: random.Random,
    mark: Path,
    slow_before: int,
) -> bool:
    """Wait until ``proc`` is in the window of ``kind``; True if it got there alive."""
    timeout = cfg.arrival_timeout_s
    if kind == "fetch":
        aimed = _wait(lambda: _faults_fired(sim, "slow") > slow_before, timeout, proc)
    elif kind == "random":
        time.sleep(rng.uniform(0.5, 3.0))
        aimed = proc.poll() is None
    else:
        aimed = _wait(lambda: _arrived(mark, kind, proc.pid), timeout, proc)
    if aimed:
        time.sleep(rng.uniform(0.0, 0.1))  # somewhere in the window, not its edge
    return aimed and proc.poll() is None


def run_crash_loop(
    cfg: CrashConfig, sim: SimControl, progress: Callable[[str], None] | None = None
) -> CrashResult:
    """Kill and restart the collector ``cfg.kills`` times, then run it once and check."""
    started = time.monotonic()
    rng = random.Random(cfg.seed)
    logs = cfg.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mark = cfg.workdir / "chaos-marks.txt"
    # Every kind equally often, in a shuffled order.
    plan = [cfg.kinds[i % len(cfg.kinds)] for i in range(cfg.kills)]
    rng.shuffle(plan)
    result = CrashResult()
    waiting: list[tuple[Kill, list[Path]]] = []  # kills whose temp files a restart must sweep

    def check_swept() -> None:
        for kill, left in waiting:
            kill.swept = not any(p.exists() for p in left)
        waiting.clear()

    storm = ReaderStorm(cfg.db_path, cfg.readers).__enter__() if cfg.readers else None
    try:
        _kill_loop(cfg, sim, plan, rng, mark, logs, result, waiting, check_swept, progress)
    finally:
        if storm is not None:
            storm.stop()
            result.readers, result.reads = cfg.readers, storm.counts
    result.refused_loads = count_refused_loads(logs)
    result.load_waits_ms = load_waits_ms(logs)
    _final_run(cfg, sim, logs, result, check_swept)
    result.seconds = time.monotonic() - started
    return result


def _kill_loop(
    cfg: CrashConfig,
    sim: SimControl,
    plan: list[str],
    rng: random.Random,
    mark: Path,
    logs: Path,
    result: CrashResult,
    waiting: list[tuple[Kill, list[Path]]],
    check_swept: Callable[[], None],
    progress: Callable[[str], None] | None,
) -> None:
    for n, kind in enumerate(plan, 1):
        t0 = time.monotonic()
        slow_before = 0
        if kind == "fetch":  # hold every chain request: the kill lands while one is awaited
            slow_before = _faults_fired(sim, "slow")
            sim.set_faults({"slow": {"probability": 1.0, "delay_s": 120.0, "paths": [_CHAIN]}})
        log_path = logs / f"run_{n:03d}_{kind}.log"
        proc = _collector(cfg, sim.base_url, log_path, _pause_env(kind, rng, mark))
        result.restarts += 1
        try:
            aimed = _aim(kind, proc, cfg, sim, rng, mark, slow_before)
            # Recovery (temp sweep, then reconcile) runs before "collector started" is logged
            # and before any aimed point but one: a "move" pause can hit recovery's own move,
            # after its sweep. A random kill may land before recovery; then check next time.
            if (aimed and kind != "random") or _STARTED in log_path.read_bytes():
                check_swept()
        finally:
            _kill(proc)
            if kind == "fetch":
                sim.set_faults({})
        left = temp_files(cfg.data_dir)
        kill = Kill(n, kind, aimed, len(left), seconds=time.monotonic() - t0)
        result.kills.append(kill)
        waiting.append((kill, left))
        if progress is not None:
            state = "at the aimed point" if aimed else "MISSED the aimed point"
            progress(f"kill {n:>3}/{cfg.kills} {kind:<6} {state}; temp files left {len(left)}")


def _final_run(
    cfg: CrashConfig,
    sim: SimControl,
    logs: Path,
    result: CrashResult,
    check_swept: Callable[[], None],
) -> None:
    """The last start: recover, one tick, one load, exit; then judge the store."""
    proc = _collector(cfg, sim.base_url, logs / "run_final.log", {}, "--once")
    result.restarts += 1
    try:
        result.final_rc = proc.wait(cfg.final_timeout_s)
    except subprocess.TimeoutExpired:
        _kill(proc)
        result.final_rc = None
    check_swept()
    result.store = check_store(cfg.data_dir, cfg.db_path)
