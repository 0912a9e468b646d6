"""The fault soak: a whole simulated trading day, accelerated, full universe, every fault on.

Where it sits: ``python -m nsechain.chaos --soak`` and the slow test ``tests/test_chaos_soak.py``
run it. The simulator runs in its own process (``SimulatorProcess``) with its faults on; the
collector runs as ``python -m nsechain collect --symbols ALL`` from 09:14 to just after the
15:30 close (simulated), then gets SIGTERM (a graceful stop: final load). The analysis reads
the fetch log of every tick file (each file holds its own tick's log, so each request is tied
to the tick it belonged to) and the simulator's counters.

Fault classes and the ``fetch_log`` outcome each must show (``FAULT_CLASSES``):

====================  ==================================================  ===============
simulator fault       what the collector sees                               outcome
====================  ==================================================  ===============
``error_5xx``         an HTML 503 page                                      http_error, 5xx
``empty``             ``{}`` with HTTP 200                                  bad_payload
``truncate``          JSON cut in half                                      bad_payload
``br``                a body that does not decode                           bad_payload
``slow`` (> timeout)  no answer within ``timeout_s``                        timeout
``reset``             TCP RST before any byte                               http_error, none
cookie expiry         401 HTML after the simulator's cookie life            unauthorized
``block`` window      Akamai's 403 "Access Denied" HTML page                blocked
``stale``             the previous snapshot again                           stale
====================  ==================================================  ===============

Success ratio. A *planned fetch* is one fetch of a (symbol, expiry) the scheduler sent: the
pair's chain requests from a first attempt (``attempt`` 1) up to the next first attempt, in-line
retries and the re-bootstrap after a 401 included (a 401 retry counts on, so it stays in the
fetch). The rows are read from every file and ordered by ``fetched_at``: with the continuous
scheduler a fetch's retries can land in two files (a flush fell between its attempts) and one
file can hold two fetches of a pair, so a file is not a unit of fetching. It *met only
transient faults* when none of its attempts was a terminal failure (an HTTP 4xx other than
401/403/408/421/425/429: an endpoint gone). It *eventually succeeded* when it ended ``ok`` or
``stale`` itself, or, failing that, when the same pair's next fetch (after any 403 cool-off)
ended ``ok`` or ``stale``. Failed fetches with no later fetch of their pair before the end are
*censored* and left out. The ratio is eventually succeeded / (transient-only planned fetches −
censored); the target is ≥ 99 %.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from nsechain.chaos.checks import StoreReport, check_store
from nsechain.chaos.spawn import spawn_collector
from nsechain.sim.process import SimulatorProcess
from nsechain.sim.server import SimConfig
from nsechain.store.files import read_tick_fetch_log
from nsechain.store.paths import list_tick_files

__all__ = [
    "FAULT_CLASSES",
    "SoakConfig",
    "SoakResult",
    "analyse",
    "fault_class",
    "group_fetches",
    "run_soak",
]

#: Fault class → the sentence saying how it shows in fetch_log.
FAULT_CLASSES: dict[str, str] = {
    "5xx": "http_error with HTTP 5xx",
    "{}": "bad_payload, 'empty JSON object {}'",
    "truncated JSON": "bad_payload, 'not valid JSON'",
    "undecodable": "bad_payload, 'Content-Encoding br ... cannot decode'",
    "slow → timeout": "timeout, no status",
    "reset": "http_error, no status",
    "401 cookie expiry": "unauthorized with HTTP 401",
    "403 block": "blocked with HTTP 403",
    "stale": "stale",
}

_PRIMARY = "option-chain-v3"
CHAIN_ENDPOINTS = frozenset({_PRIMARY, "nextapi-getOptionChainData"})
_SUCCESS = frozenset({"ok", "stale"})
_TRANSIENT_4XX = frozenset({401, 403, 408, 421, 425, 429})

_SESSION_START = "09:14:00"
_SESSION_END = timedelta(hours=15, minutes=31)  # one simulated minute after the close


def fault_class(outcome: str, status: int | None, error: str | None) -> str | None:
    """The fault class a fetch_log row shows, or None for a plain success or other failure."""
    text = error or ""
    if outcome == "http_error":
        if status is not None and 500 <= status <= 599:
            return "5xx"
        if status is None:
            return "reset"
        return None
    if outcome == "bad_payload":
        if "empty JSON object {}" in text:
            return "{}"
        if "not valid JSON" in text:
            return "truncated JSON"
        if "undecodable" in text or "Content-Encoding" in text:
            return "undecodable"
        return None
    if outcome == "timeout":
        return "slow → timeout"
    if outcome == "unauthorized" and status == 401:
        return "401 cookie expiry"
    if outcome == "blocked" and status == 403:
        return "403 block"
    if outcome == "stale":
        return "stale"
    return None


def _terminal(outcome: str, status: int | None) -> bool:
    return (
        outcome == "http_error"
        and status is not None
        and 400 <= status < 500
        and status not in _TRANSIENT_4XX
    )


@dataclass
class SoakConfig:
    """One soak. Wall time ≈ (15:31 − 09:14) / ``speed``: 377 s at the default 60×."""

    workdir: Path
    seed: int = 11
    speed: float = 60.0  # simulated seconds per wall second; one tick per simulated minute
    interval_s: float = 1.0
    batch_interval_s: float = 5.0
    rate: float = 40.0  # the collector's budget, requests per wall second
    symbols: str = "ALL"
    day: str = "2026-11-25"  # a Wednesday; 2026-11-24 is a holiday
    start: str = _SESSION_START  # simulated IST; later starts make shorter soaks
    cookie_life_s: float = 30.0  # the simulator's cookie life; the collector's is 1800 s
    block_window: tuple[str, str] = ("12:00", "12:02")  # simulated IST
    fault_probability: float = 0.01  # per kind, per API request
    timeout_s: float = 2.0
    slow_s: float = 3.0  # longer than timeout_s: a slow answer is a timeout
    block_cooloff_s: float = 5.0
    stop_timeout_s: float = 120.0
    fault_overrides: dict[str, Any] = field(default_factory=dict)  # kind → spec, replaces one

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def db_path(self) -> Path:
        return self.workdir / "chain.duckdb"

    def faults(self) -> dict[str, Any]:
        p = self.fault_probability
        return {
            "error_5xx": {"probability": p},
            "empty": {"probability": p},
            "truncate": {"probability": p},
            "br": {"probability": p / 2},
            "slow": {"probability": p / 2, "delay_s": self.slow_s},
            "reset": {"probability": p / 2},
            "stale": {"probability": p},
            "block": {"windows": [list(self.block_window)]},
        } | self.fault_overrides

    def sim_config(self) -> SimConfig:
        return SimConfig(
            seed=self.seed,
            speed=self.speed,
            start=f"{self.day}T{self.start}",
            cookie_max_age_s=self.cookie_life_s,
            faults=self.faults(),
            prewarm=True,
        )


@dataclass
class Fetch:
    """One planned fetch: a pair's chain requests from a first attempt to its last retry."""

    tick: int  # the file its first attempt was written in
    symbol: str
    expiry: Any
    outcomes: list[tuple[str, int | None]]

    @property
    def final(self) -> str:
        return self.outcomes[-1][0]

    @property
    def transient_only(self) -> bool:
        return not any(_terminal(o, s) for o, s in self.outcomes)


@dataclass
class SoakResult:
    label: str = ""  # what was soaked: simulated hours, speed, symbols
    seconds: float = 0.0
    collector_up: bool = False  # alive at the end of the day, threads never restarted
    exit_code: int | None = None
    ticks: int = 0
    block_pauses: int = 0  # 403 blocks the client paused every worker for
    requests: int = 0  # fetch_log rows
    planned: int = 0  # planned fetches sent
    transient_only: int = 0
    first_try: int = 0  # ok/stale at attempt 1
    in_tick: int = 0  # ok/stale within the fetch itself (retries, re-bootstrap)
    recovered_next: int = 0  # failed in their tick, ok/stale at the pair's next planned fetch
    never: int = 0  # failed, and the pair's next planned fetch failed too
    censored: int = 0
    classes: Counter[str] = field(default_factory=Counter)  # fault class → fetch_log rows
    outcomes: Counter[str] = field(default_factory=Counter)
    sim_faults: dict[str, int] = field(default_factory=dict)
    sim_401: int = 0
    status_restarts: int = 0
    store: StoreReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        judged = self.transient_only - self.censored
        return (self.in_tick + self.recovered_next) / judged if judged else 0.0

    @property
    def missing_classes(self) -> list[str]:
        return [c for c in FAULT_CLASSES if not self.classes[c]]

    @property
    def ok(self) -> bool:
        return (
            self.collector_up
            and self.exit_code == 0
            and not self.missing_classes
            and self.ratio >= 0.99
            and self.store is not None
            and self.store.ok
        )

    def summary(self) -> str:
        lines = [
            f"nsechain chaos: fault soak ({self.label})",
            f"  wall time          {self.seconds:.0f} s; collector stayed up: "
            f"{'yes' if self.collector_up else 'NO'} (exit {self.exit_code}, "
            f"thread restarts {self.status_restarts})",
            f"  files              {self.ticks} ({self.block_pauses} pause(s) after a 403 block: "
            "no request during the cool-off)",
            f"  requests logged    {self.requests}  "
            + " ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items())),
            "  simulator faults   "
            + " ".join(f"{k}={v}" for k, v in sorted(self.sim_faults.items()))
            + f" 401s={self.sim_401}",
            "  fault classes in fetch_log:",
        ]
        for name, how in FAULT_CLASSES.items():
            mark = "ok " if self.classes[name] else "MISSING"
            lines.append(f"    {mark} {name:<18} {self.classes[name]:>6} rows  as {how}")
        judged = self.transient_only - self.censored
        lines += [
            f"  planned fetches    {self.planned} sent, {self.transient_only} met only "
            f"transient faults (or none)",
            f"    ok/stale first try          {self.first_try}",
            f"    ok/stale within the fetch   {self.in_tick} (retries, re-bootstrap)",
            f"    recovered at the next fetch {self.recovered_next}",
            f"    not recovered               {self.never}",
            f"    censored (no later fetch)   {self.censored}",
            f"  eventually succeeded  {self.in_tick + self.recovered_next}/{judged} = "
            f"{self.ratio:.4%} (target ≥ 99%)",
        ]
        s = self.store
        if s is not None:
            lines.append(
                f"  store              {s.db_rows} rows in DuckDB, duplicates {s.duplicates}, "
                f"corrupt {len(s.corrupt)}, missing {s.missing_keys}, pending {s.pending_files}"
            )
            lines += [f"  problem: {p}" for p in s.problems()]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  verdict            {'PASS' if self.ok else 'FAIL'}")
        return "\n".join(lines)


def _collector(cfg: SoakConfig, base_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    return spawn_collector(
        base_url=base_url,
        data_dir=cfg.data_dir,
        db_path=cfg.db_path,
        symbols=cfg.symbols,
        interval_s=cfg.interval_s,
        batch_interval_s=cfg.batch_interval_s,
        rate=cfg.rate,
        workdir=cfg.workdir,
        log_path=log_path,
        # On the simulator's clock the collector keeps NSE's hours itself: it waits for the
        # 09:15 open and takes the after-close snapshot, as on a real day.
        ignore_market_hours=False,
        env={
            "NSECHAIN_BURST": "10",
            "NSECHAIN_TIMEOUT_S": str(cfg.timeout_s),
            "NSECHAIN_MAX_RETRIES": "3",
            "NSECHAIN_BACKOFF_BASE_S": "0.05",
            "NSECHAIN_BACKOFF_MAX_S": "0.5",
            "NSECHAIN_BLOCK_COOLOFF_S": str(cfg.block_cooloff_s),
            "NSECHAIN_STATUS_INTERVAL_S": "1",
            "NSECHAIN_EXPIRIES_PER_SYMBOL": "0",
        },
    )


def _sim_now(base_url: str) -> datetime:
    clock = httpx.get(f"{base_url}/__admin/clock", timeout=10).json()
    return datetime.fromisoformat(str(clock["now"]))


def _poll_sim_now(base_url: str) -> datetime | None:
    """The simulator's time, or None after a short pause when it did not accept in time: the
    full universe's flood can fill its accept queue, and the soak's own poll waits its turn
    (the run's wall limit still bounds the loop)."""
    try:
        return _sim_now(base_url)
    except httpx.TransportError:
        time.sleep(0.5)
        return None


def _read_status(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _wait_until_up(proc: subprocess.Popen[bytes], status_path: Path, limit_s: float) -> None:
    """Until the collector's first status file (its threads run), it exits, or ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while proc.poll() is None and not status_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def run_soak(cfg: SoakConfig, progress: Callable[[str], None] | None = None) -> SoakResult:
    """Run the day, stop the collector gracefully, analyse. Blocks ~(6h17m / speed)."""
    started = time.monotonic()
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    universe = "the full F&O universe" if cfg.symbols == "ALL" else cfg.symbols
    result = SoakResult(
        label=f"{cfg.day} {cfg.start[:5]}-15:31 IST simulated at {cfg.speed:g}x, {universe}, "
        f"every fault on, rate {cfg.rate:g}/s"
    )
    log_path = cfg.workdir / "collector.log"
    status_path = cfg.data_dir / "status.json"
    with SimulatorProcess(cfg.sim_config()) as sim:
        # The simulated day starts now, not when the simulator process began: its start-up
        # can take many simulated minutes on a busy machine. The collector joins this clock.
        sim.set_clock(f"{cfg.day}T{cfg.start}", cfg.speed)
        end = datetime.fromisoformat(f"{cfg.day}T00:00:00+05:30") + _SESSION_END
        proc = _collector(cfg, sim.base_url, log_path)
        try:
            # The day starts when the collector is up: its start-up (imports, recovery) takes
            # seconds on a loaded machine, and a soak must not lose its block window to that.
            _wait_until_up(proc, status_path, cfg.stop_timeout_s)
            httpx.post(
                f"{sim.base_url}/__admin/clock", json={"time": f"{cfg.day}T{cfg.start}"}, timeout=10
            )
            wall_limit = (
                time.monotonic() + (end - _sim_now(sim.base_url)).total_seconds() / cfg.speed + 60
            )
            last_report = 0.0
            while proc.poll() is None and time.monotonic() < wall_limit:
                if (now := _poll_sim_now(sim.base_url)) is None:
                    continue
                if now >= end:
                    break
                if progress is not None and time.monotonic() - last_report >= 30:
                    last_report = time.monotonic()
                    st = _read_status(status_path) or {}
                    col = st.get("collection_thread", {})
                    progress(
                        f"soak {now:%H:%M} IST: ticks {col.get('ticks', 0)}, "
                        f"fetches {col.get('fetches', {})}"
                    )
                time.sleep(0.5)
            st = _read_status(status_path) or {}
            threads = [st.get("collection_thread", {}), st.get("batch_thread", {})]
            result.status_restarts = sum(int(t.get("restarts", 0)) for t in threads)
            result.collector_up = (
                proc.poll() is None
                and all(t.get("alive") for t in threads)
                and result.status_restarts == 0
            )
            proc.send_signal(signal.SIGTERM)
            result.exit_code = proc.wait(cfg.stop_timeout_s)
        except subprocess.TimeoutExpired:
            result.notes.append("the collector did not stop within the stop timeout")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        counters = sim.counters()
    result.sim_faults = {str(k): int(v) for k, v in counters.get("faults", {}).items()}
    result.sim_401 = sum(
        int(by_status.get("401", 0)) for by_status in counters.get("requests", {}).values()
    )
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    result.block_pauses = log_text.count("reason=403-block")  # the client's pause line
    analyse(cfg.data_dir, result)
    result.store = check_store(cfg.data_dir, cfg.db_path)
    result.seconds = time.monotonic() - started
    return result


def _fetches(files: list[Path], result: SoakResult) -> list[Fetch]:
    """Count every fetch_log row of ``files``; return the chain fetches (``group_fetches``)."""
    chain_rows: list[tuple[int, dict[str, Any]]] = []
    for tick, path in enumerate(files):
        flog = read_tick_fetch_log(path).to_pylist()
        result.requests += len(flog)
        for row in flog:
            result.outcomes[row["outcome"]] += 1
            cls = fault_class(row["outcome"], row["http_status"], row["error"])
            if cls is not None:
                result.classes[cls] += 1
            if row["endpoint"] in CHAIN_ENDPOINTS and row["symbol"] is not None:
                chain_rows.append((tick, row))
    return group_fetches(chain_rows)


def group_fetches(chain_rows: list[tuple[int, dict[str, Any]]]) -> list[Fetch]:
    """(file index, chain fetch_log row) pairs → every pair's fetches, in the order sent.

    A new fetch starts at each first attempt; the fallback endpoint's first attempt right
    after the primary endpoint's failure belongs to the same fetch (the client fell back).
    """
    chain_rows.sort(key=lambda tr: (tr[1]["fetched_at"], tr[1]["attempt"] or 0))
    fetches: list[Fetch] = []
    open_fetch: dict[tuple[str, Any], tuple[Fetch, str]] = {}  # pair → (fetch, last endpoint)
    for tick, row in chain_rows:
        pair = (row["symbol"], row["expiry"])
        last = open_fetch.get(pair)
        fell_back = last is not None and row["endpoint"] != last[1] and row["endpoint"] != _PRIMARY
        if last is None or ((row["attempt"] or 1) == 1 and not fell_back):
            fetch = Fetch(tick, row["symbol"], row["expiry"], [])
            fetches.append(fetch)
        else:
            fetch = last[0]
        fetch.outcomes.append((str(row["outcome"]), row["http_status"]))
        open_fetch[pair] = (fetch, row["endpoint"])
    return fetches


def analyse(data_dir: Path, result: SoakResult) -> None:
    """Fill ``result``'s fetch figures from the tick files under ``data_dir``."""
    files = sorted(
        [
            *list_tick_files(data_dir / "options_processed"),
            *list_tick_files(data_dir / "options_parquet"),
        ],
        key=lambda p: p.name,
    )
    result.ticks = len(files)
    fetches = _fetches(files, result)
    by_pair: dict[tuple[str, Any], list[Fetch]] = defaultdict(list)
    for f in fetches:
        by_pair[(f.symbol, f.expiry)].append(f)
    result.planned = len(fetches)
    for series in by_pair.values():
        for i, f in enumerate(series):
            if not f.transient_only:
                continue
            result.transient_only += 1
            if f.outcomes[0][0] in _SUCCESS:
                result.first_try += 1
            if f.final in _SUCCESS:
                result.in_tick += 1
            elif i + 1 == len(series):
                result.censored += 1
            elif series[i + 1].final in _SUCCESS:
                result.recovered_next += 1
            else:
                result.never += 1
