"""``nsechain demo``: a whole recording session against the simulator, in about two minutes.

Where it sits: the edge (``cli.main`` calls ``register(app)``; ``make demo`` runs
it). It starts the NSE simulator in a child process (``sim.SimulatorProcess``) with its clock
running fast from 09:14 IST on the next simulated trading day, points the real collector
(``OptionsThreadedManager``: collection, batch and monitor threads) at it over loopback for the
WHOLE F&O universe, lets the request plan decide what fits the budget, stops both cleanly (the
final load included), and prints what was recorded: symbols, snapshots, rows, fetches by
outcome, a NIFTY chain around the money with its put-call ratio, and the request rate achieved
against the budget. No network beyond 127.0.0.1.

``run_demo`` does the work and returns a ``DemoResult``; tests call it with a short ``minutes``.
"""

import io
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from nsechain.timeutil import IST, now_ist

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager

__all__ = ["DemoResult", "PcrLine", "register", "run_demo"]

#: What each fetch_log outcome means, for the summary table.
OUTCOME_MEANING = {
    "ok": "a new snapshot, rows written (other: as expected)",
    "stale": "NSE's timestamp had not moved: no rows",
    "empty": "no contracts (an expiry NSE dropped): expiries refreshed",
    "blocked": "403: the client paused and lowered its rate",
    "unauthorized": "401: cookies expired, re-bootstrapped",
    "bad_payload": "not a chain: retried, body quarantined",
    "timeout": "no answer in time: retried",
    "http_error": "5xx or connection reset: retried",
}
_OUTCOME_ORDER = tuple(OUTCOME_MEANING)

#: NSE's failure modes, injected into a few percent of chain answers so the summary shows the
#: collector classifying them (``--no-faults`` for a clean run). No "block": a 403 pauses the
#: client for its whole cool-off, which would stall a two-minute demo.
DEMO_FAULTS: dict[str, dict[str, Any]] = {
    kind: {"probability": p, "paths": ["/api/option-chain-v3"]}
    for kind, p in (
        ("error_5xx", 0.01),
        ("empty", 0.005),
        ("truncate", 0.005),
        ("reset", 0.005),
        ("br", 0.003),
        ("stale", 0.005),
    )
}


@dataclass(frozen=True)
class PcrLine:
    """OI put-call ratio of one snapshot: sum of PE OI / sum of CE OI."""

    symbol: str
    expiry: date
    exchange_ts: datetime
    underlying: float | None
    pe_oi: int
    ce_oi: int
    pcr_oi: float | None
    pcr_volume: float | None

    def text(self) -> str:
        ratio = "n/a" if self.pcr_oi is None else f"{self.pcr_oi:.2f}"
        vol = "" if self.pcr_volume is None else f"; volume PCR {self.pcr_volume:.2f}"
        spot = "" if self.underlying is None else f", spot {self.underlying:,.2f}"
        return (
            f"PCR {self.symbol} {self.expiry:%d-%b-%Y} (nearest expiry) at "
            f"{self.exchange_ts.astimezone(IST):%H:%M} IST{spot}: OI PCR {ratio} "
            f"= PE OI {self.pe_oi:,} / CE OI {self.ce_oi:,}{vol}"
        )


@dataclass
class DemoResult:
    """What one demo run recorded; ``report`` is the text the user saw."""

    data_dir: Path
    db_path: Path
    kept: bool
    wall_s: float = 0.0
    ticks: int = 0
    symbols: int = 0
    snapshots: int = 0
    rows: int = 0
    files: int = 0
    nse_first: datetime | None = None
    nse_last: datetime | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    chain_outcomes: dict[str, int] = field(default_factory=dict)  # chain requests only
    requests: int = 0  # as counted by the simulator
    budget: float = 0.0
    achieved_rate: float = 0.0
    rate_blocks: int = 0
    plan_pairs: int = 0
    plan_per_tick: int = 0
    plan_refresh_s: float = 0.0
    pcr: PcrLine | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)
    quarantined: int = 0
    clean_stop: bool = False
    report: str = ""


def next_session_start(today: date | None = None) -> datetime:
    """09:14 IST on the first simulated trading day after ``today``: a minute before the open.

    A default for people (the demo shows "tomorrow's" market); the collector itself lives on
    the simulator's clock (``ScaledClock``), so any start works, in any year.
    """
    from nsechain.sim.calendar import next_trading_day

    day = next_trading_day(today or now_ist().date())
    return datetime(day.year, day.month, day.day, 9, 14, tzinfo=IST)


def run_demo(
    *,
    minutes: float = 1.5,
    speed: float = 60.0,
    rate: float = 20.0,
    interval_s: float = 5.0,
    data_dir: Path | None = None,
    keep: bool = False,
    seed: int = 1,
    faults: bool = True,
    start: datetime | None = None,
    console: Console | None = None,
    latency: bool = True,
    ticks: int | None = None,
) -> DemoResult:
    """Simulator + collector for ``minutes`` of wall time, then load and summarise.

    ``ticks``: stop as soon as that many ticks are done (``minutes`` is then only a cap), so a
    test asks for a count of ticks, not for what fits in some seconds on a busy machine.

    ``data_dir`` None: a fresh temp dir, removed at the end unless ``keep``. A given dir is
    always kept; it is the data folder, as for every command (the database goes beside it:
    the path rule of ``Settings``). Raises ``ValueError`` for nonsensical arguments.
    """
    if not (minutes > 0 and speed >= 0 and rate > 0 and interval_s > 0):
        raise ValueError("minutes, rate and interval must be > 0, speed >= 0")
    out = console or Console()
    temp = data_dir is None
    from nsechain.config import DATA_NAME, DB_NAME

    root = Path(tempfile.mkdtemp(prefix="nsechain-demo-")) if temp else None
    # Not from the environment's settings: the demo never writes into a real database.
    data = root / DATA_NAME if root is not None else Path(data_dir or DATA_NAME)
    data.mkdir(parents=True, exist_ok=True)
    result = DemoResult(
        data_dir=data,
        db_path=data.parent / DB_NAME,
        kept=keep or not temp,
        budget=rate,
    )
    try:
        _session(
            result, minutes, speed, rate, interval_s, seed, (faults, latency), start, out, ticks
        )
        _summarise(result)
        result.report = _report(result, out)
    finally:
        if not result.kept and root is not None:
            shutil.rmtree(root, ignore_errors=True)
    return result


# --- the session ----------------------------------------------------------------------------------


def _session(
    r: DemoResult,
    minutes: float,
    speed: float,
    rate: float,
    interval_s: float,
    seed: int,
    realism: tuple[bool, bool],  # (faults, latency)
    start: datetime | None,
    out: Console,
    ticks: int | None = None,
) -> None:
    from nsechain.collector.clock import Clock, FixedClock, ScaledClock
    from nsechain.collector.manager import OptionsThreadedManager
    from nsechain.config import load_settings
    from nsechain.sim.latency import DEFAULT_LATENCY, LatencyModel
    from nsechain.sim.process import SimulatorProcess
    from nsechain.sim.server import SimConfig

    faults, latency = realism
    begin = start or next_session_start()
    # NSE's limit sits well above our budget: the token bucket, not luck, keeps us under it.
    limit = max(2.0 * rate, rate + 10.0)
    config = SimConfig(
        seed=seed,
        speed=speed,
        start=begin,
        rate_limit=limit,
        rate_burst=limit,
        cool_off_s=60.0,
        faults=DEMO_FAULTS if faults else {},
        prewarm=True,
        latency=DEFAULT_LATENCY if latency else LatencyModel(),
    )
    where = "kept" if r.kept else "a temp dir, removed at the end; --keep keeps it"
    out.print(f"[bold]nsechain demo[/bold]: data in {r.data_dir.parent} ({where})")
    out.print(
        f"Simulated NSE: {begin:%a %d-%b-%Y %H:%M} IST at {speed:g}x (1 wall s = "
        f"{speed:g} market s), rate limit {limit:g} req/s, "
        + ("~3% of chain answers faulty" if faults else "no faults")
        + (
            f", answers take ~{DEFAULT_LATENCY.median_s * 1000:.0f} ms"
            f" (p99 {DEFAULT_LATENCY.p99_s:g} s)"
            if latency
            else ", no latency"
        ),
        highlight=False,
    )
    # A tick every ``interval_s`` wall seconds is ``interval_s × speed`` seconds of market time
    # (a stopped clock counts wall seconds).
    per_wall_s = speed if speed > 0 else 1.0
    with SimulatorProcess(config) as sim:
        settings = load_settings(
            base_url=sim.base_url,
            data_dir=r.data_dir,
            db_path=r.db_path,
            symbols=["ALL"],
            expiries_per_symbol=0,
            interval_s=interval_s * per_wall_s,
            batch_interval_s=max(15.0, 4 * interval_s),
            status_interval_s=1.0,
            # On the simulator's clock the collector keeps NSE's hours: it waits for the open
            # (09:15, a wall second after the 09:14 start), as on a real morning. A stopped
            # clock never reaches the open: then it collects at whatever time it shows.
            ignore_market_hours=speed == 0,
            rate=rate,
            timeout_s=10.0,
            block_cooloff_s=30.0,
        )
        out.print(
            f"Collecting the whole F&O universe for {minutes * 60:.0f} s: budget {rate:g} req/s,"
            f" a tick every {interval_s:g} s ({interval_s * speed / 60:g} market min)",
            highlight=False,
        )
        sim.reset()  # count only the collector's requests
        # The collector lives in the simulated market's time, not today's: restart the
        # simulator's clock and start the collector's with the same start and speed.
        sim.set_clock(begin.isoformat(), speed)
        clock: Clock = ScaledClock(begin, speed) if speed > 0 else FixedClock(begin)
        manager = OptionsThreadedManager(settings, clock=clock)
        began = time.monotonic()
        manager.start_all_threads()
        seen: list[object] = []
        try:
            _watch(manager, began + minutes * 60.0, out, seen, ticks)
        except KeyboardInterrupt:
            out.print("Interrupted: stopping early, the summary follows.")
        finally:
            out.print("Stopping: the tick in flight ends, a final load runs ...")
            r.clean_stop = manager.stop_all_threads(timeout=60.0)
            r.wall_s = time.monotonic() - began
        _progress(manager, seen, out)
        counters = sim.counters()
        plan = manager.collector.targets.plan_now
        r.plan_pairs = len(plan.pairs)
        r.plan_per_tick = plan.max_requests_per_tick
        r.plan_refresh_s = plan.full_refresh_ticks * plan.interval_s / per_wall_s
        r.ticks = int(manager.collector.totals["ticks"])
    r.requests = int(counters["requests_total"])
    r.rate_blocks = int(counters["rate_limit"]["blocks"])
    r.achieved_rate = r.requests / r.wall_s if r.wall_s > 0 else 0.0


def _watch(
    manager: "OptionsThreadedManager",
    until: float,
    out: Console,
    seen: list[object],
    ticks: int | None = None,
) -> None:
    """One progress line per tick until the wall-clock deadline, or ``ticks`` ticks."""
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(0.25, left))
        _progress(manager, seen, out)
        if ticks is not None and manager.collector.totals["ticks"] >= ticks:
            return


def _progress(manager: "OptionsThreadedManager", seen: list[object], out: Console) -> None:
    tick = manager.last_tick
    if tick is None or (seen and tick is seen[-1]):
        return
    seen.append(tick)
    nifty = manager.collector.freshness.get("NIFTY")
    nse = nifty.exchange_ts if nifty is not None else None
    when = f"{nse.astimezone(IST):%H:%M:%S}" if nse is not None else "--:--:--"
    fetched = " ".join(f"{k} {v}" for k, v in sorted(tick.outcomes.items())) or "nothing"
    total = manager.collector.totals["rows_written"]
    out.print(
        f"  tick {len(seen):>2}  NSE {when}  {tick.planned} planned: {fetched}  "
        f"+{tick.quote_rows:,} rows = {total:,}",
        highlight=False,
    )


# --- reading back what was recorded -------------------------------------------------------------


def _summarise(r: DemoResult) -> None:
    from nsechain.nse import endpoints
    from nsechain.query import connect

    if not r.db_path.exists():
        return
    desk = connect(r.db_path)
    facts = desk.sql(
        "SELECT count(DISTINCT symbol) AS symbols, count(*) AS rows, "
        "min(exchange_ts) AS first, max(exchange_ts) AS last FROM option_quotes"
    ).to_pylist()[0]
    r.symbols, r.rows = int(facts["symbols"]), int(facts["rows"])
    r.nse_first, r.nse_last = facts["first"], facts["last"]
    r.snapshots = int(
        desk.sql(
            "SELECT count(*) AS n FROM (SELECT DISTINCT symbol, expiry, exchange_ts "
            "FROM option_quotes)"
        ).to_pylist()[0]["n"]
    )
    r.files = int(desk.sql("SELECT count(*) AS n FROM loaded_files").to_pylist()[0]["n"])
    outcomes = desk.sql(
        "SELECT outcome, count(*) AS n, count(*) FILTER (WHERE endpoint IN $chains) AS chains "
        "FROM fetch_log GROUP BY outcome",
        {"chains": [endpoints.OPTION_CHAIN_V3.name, endpoints.NEXTAPI_CHAIN.name]},
    ).to_pylist()
    r.outcomes = {row["outcome"]: int(row["n"]) for row in outcomes}
    r.chain_outcomes = {row["outcome"]: int(row["chains"]) for row in outcomes if row["chains"]}
    r.quarantined = len(list((r.data_dir / "quarantine").rglob("*.reason.json")))
    if r.rows == 0:
        return
    try:
        snap = desk.snapshot("NIFTY")
    except LookupError:
        return
    r.chain = _around_atm(desk.chain("NIFTY", snap.expiry).to_pylist(), width=5)
    pcr_rows = desk.pcr("NIFTY", snap.expiry).to_pylist()
    if pcr_rows:
        p = pcr_rows[-1]
        r.pcr = PcrLine(
            symbol="NIFTY",
            expiry=p["expiry"],
            exchange_ts=p["exchange_ts"],
            underlying=p["underlying_value"],
            pe_oi=int(p["pe_oi"] or 0),
            ce_oi=int(p["ce_oi"] or 0),
            pcr_oi=p["pcr_oi"],
            pcr_volume=p["pcr_volume"],
        )


def _around_atm(rows: list[dict[str, Any]], width: int) -> list[dict[str, Any]]:
    """``width`` strikes either side of the one nearest the underlying (rows sorted by strike)."""
    if not rows:
        return []
    spot = rows[0]["underlying_value"] or 0.0
    atm = min(range(len(rows)), key=lambda i: abs(rows[i]["strike"] - spot))
    return rows[max(0, atm - width) : atm + width + 1]


# --- printing -------------------------------------------------------------------------------------


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _n(value: Any, fmt: str = ",.0f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, fmt)


def _chain_table(rows: list[dict[str, Any]]) -> Table:
    first = rows[0]
    spot = first["underlying_value"] or 0.0
    title = (
        f"NIFTY {first['expiry']:%d-%b-%Y} at {first['exchange_ts'].astimezone(IST):%H:%M:%S} "
        f"IST, spot {spot:,.2f} (* = ATM)"
    )
    t = Table(
        title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1), show_edge=False,
    )  # fmt: skip
    for name in ("CE OI", "chg OI", "IV", "LTP"):
        t.add_column(name, justify="right", style="green")
    t.add_column("strike", justify="right", style="bold")
    for name in ("LTP", "IV", "chg OI", "PE OI"):
        t.add_column(name, justify="right", style="red")
    atm = min(rows, key=lambda row: abs(row["strike"] - spot))["strike"]
    for row in rows:
        t.add_row(
            _n(row["ce_open_interest"]),
            _n(row["ce_change_in_oi"], "+,.0f"),
            _n(row["ce_iv"], ".1f"),
            _n(row["ce_last_price"], ",.2f"),
            f"{row['strike']:,.0f}" + ("*" if row["strike"] == atm else " "),
            _n(row["pe_last_price"], ",.2f"),
            _n(row["pe_iv"], ".1f"),
            _n(row["pe_change_in_oi"], "+,.0f"),
            _n(row["pe_open_interest"]),
        )
    return t


def _outcome_table(r: DemoResult) -> Table:
    t = Table(
        title="Requests by outcome (fetch_log)", title_justify="left", header_style="bold",
        box=box.SIMPLE_HEAD, padding=(0, 0, 0, 1), show_edge=False,
    )  # fmt: skip
    t.add_column("outcome")
    t.add_column("chains", justify="right")
    t.add_column("other", justify="right")
    t.add_column("meaning")
    names = [o for o in _OUTCOME_ORDER if o in r.outcomes] + sorted(
        set(r.outcomes) - set(_OUTCOME_ORDER)
    )
    for name in names:
        chains = r.chain_outcomes.get(name, 0)
        t.add_row(
            name, f"{chains:,}", f"{r.outcomes[name] - chains:,}", OUTCOME_MEANING.get(name, "")
        )
    return t


def _report(r: DemoResult, out: Console) -> str:
    """Print the summary; return it as plain text too."""
    parts: list[str] = []

    def show(item: str | Table) -> None:
        out.print(item, highlight=False)
        plain = Console(file=io.StringIO(), width=out.width, no_color=True, highlight=False)
        plain.print(item, soft_wrap=isinstance(item, str))  # one line per line, unwrapped
        parts.append(plain.file.getvalue().rstrip("\n"))  # type: ignore[attr-defined]

    span = ""
    if r.nse_first is not None and r.nse_last is not None:
        first, last = r.nse_first.astimezone(IST), r.nse_last.astimezone(IST)
        span = f", NSE time {first:%H:%M}-{last:%H:%M} IST"
    show("")
    show(
        f"[bold]Recorded[/bold] in {r.wall_s:.0f} s ({_plural(r.ticks, 'tick')}, "
        f"{_plural(r.files, 'file')} loaded):"
    )
    show(f"  symbols {r.symbols:,}, snapshots {r.snapshots:,}, rows {r.rows:,}{span}")
    show(f"  DuckDB: {r.db_path}")
    show(
        f"  plan: {r.plan_pairs:,} (symbol, expiry) pairs, up to {r.plan_per_tick} per tick;"
        f" each pair at least every {r.plan_refresh_s:g} s"
    )
    show(_outcome_table(r))
    if r.quarantined:
        show(f"  {r.quarantined} bad bodies kept with their reasons in {r.data_dir / 'quarantine'}")
    if r.chain:
        show(_chain_table(r.chain))
    show(r.pcr.text() if r.pcr is not None else "PCR: no NIFTY snapshot was recorded")
    share = r.achieved_rate / r.budget if r.budget else 0.0
    show(
        f"Requests: {r.requests:,} in {r.wall_s:.0f} s = {r.achieved_rate:.1f} req/s, "
        f"{share:.0%} of the {r.budget:g} req/s budget (the plan keeps 20% for retries and "
        f"refreshes); NSE rate-limit blocks: {r.rate_blocks}"
    )
    stop = "stopped cleanly" if r.clean_stop else "did NOT stop within 60 s"
    show(f"Collector {stop} after a final load; simulator stopped.")
    return "\n".join(parts)


# --- the command ----------------------------------------------------------------------------------


def demo(
    minutes: Annotated[
        float, typer.Option(min=0.05, help="Wall-clock minutes of collection.")
    ] = 1.5,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated seconds per wall second.")
    ] = 60.0,
    rate: Annotated[float, typer.Option(min=0.1, help="Request budget, requests/s.")] = 20.0,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between ticks.")] = 5.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="The data folder, as for every command; the database goes beside it "
            "(default: a fresh temp dir, removed unless --keep)."
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temp data dir.")] = False,
    seed: Annotated[int, typer.Option(help="Simulated market seed.")] = 1,
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="Inject NSE's failure modes (~3%).")
    ] = True,
    latency: Annotated[
        bool,
        typer.Option("--latency/--no-latency", help="NSE-like answer delays (~250 ms median)."),
    ] = True,
) -> None:
    """Record the whole simulated F&O universe for a minute or two, then show what came in."""
    from nsechain.cli._settings import settings_or_exit
    from nsechain.collector.clock import clock_of
    from nsechain.logs import configure_logging

    # "Tomorrow" on the settings' clock (NSECHAIN_CLOCK_START pins it), not always today's.
    start = next_session_start(clock_of(settings_or_exit()).now().date())

    configure_logging("ERROR")  # progress lines, not every failed fetch: the summary counts them
    result = run_demo(
        minutes=minutes,
        speed=speed,
        rate=rate,
        interval_s=interval,
        data_dir=data_dir,
        keep=keep,
        seed=seed,
        faults=faults,
        latency=latency,
        start=start,
    )
    if result.kept:
        typer.echo(
            f"Data kept in {result.data_dir} (database {result.db_path}): try "
            f"`nsechain status --data-dir {result.data_dir}` or "
            f"`nsechain show NIFTY --db {result.db_path}`"
        )
    if result.rows == 0:
        raise typer.Exit(1)


def register(app: typer.Typer, name: str = "demo") -> None:
    """Add ``demo`` to the main CLI."""
    app.command(name)(demo)
