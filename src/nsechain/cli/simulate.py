"""``nsechain simulate``: run the NSE simulator in the foreground until Ctrl+C.

Where it sits: the edge; ``cli.main`` calls ``register(app)``; the command builds a
``SimConfig`` from its flags and runs ``server.Simulator``. Every fault flag is a probability
per API request; schedules ("every Nth", time windows) are set at run time with
``POST /__admin/faults``.
"""

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from nsechain.sim.latency import DEFAULT_LATENCY, LatencyModel

if TYPE_CHECKING:  # the simulator is imported when the command runs, not for --help
    from nsechain.sim.faults import FaultSpec

__all__ = ["register", "simulate"]

_P = {"min": 0.0, "max": 1.0, "show_default": True}


def _faults(
    p5xx: float, pempty: float, pblock: float, ptrunc: float, pslow: float, slow_s: float,
    preset: float, pbr: float, pstale: float,
) -> "dict[str, FaultSpec]":  # fmt: skip
    from nsechain.sim.faults import FaultSpec

    probabilities = {
        "error_5xx": p5xx,
        "empty": pempty,
        "block": pblock,
        "truncate": ptrunc,
        "slow": pslow,
        "reset": preset,
        "br": pbr,
        "stale": pstale,
    }
    return {
        kind: FaultSpec(probability=p, delay_s=slow_s) for kind, p in probabilities.items() if p > 0
    }


def _wait_forever() -> None:
    threading.Event().wait()


def _start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use ISO format, e.g. 2026-11-25T09:14") from None


def simulate(
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="Market seed: same seed, same market.")] = 1,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Simulated s per real s (60: a day in 6.25 min).")
    ] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="Simulated start, IST, e.g. 2026-11-25T09:14 (default: now).")
    ] = None,
    rate_limit: Annotated[
        float | None, typer.Option(min=0.0, help="Requests/s per client IP (default: off).")
    ] = None,
    rate_burst: Annotated[
        float | None,
        typer.Option(min=1.0, help="Requests a client may send at once (default: a second's)."),
    ] = None,
    cool_off: Annotated[
        float, typer.Option(min=0.0, help="Seconds a client stays blocked after a rate-limit hit.")
    ] = 600.0,
    cookie_max_age: Annotated[
        float, typer.Option(min=1.0, help="Seconds the bootstrap cookies stay valid.")
    ] = 7200.0,
    p_5xx: Annotated[float, typer.Option(**_P, help="Probability of a 503 page.")] = 0.0,
    p_empty: Annotated[float, typer.Option(**_P, help="Probability of an empty {} body.")] = 0.0,
    p_block: Annotated[float, typer.Option(**_P, help="Probability of Akamai's 403 page.")] = 0.0,
    p_truncate: Annotated[float, typer.Option(**_P, help="Probability of truncated JSON.")] = 0.0,
    p_slow: Annotated[float, typer.Option(**_P, help="Probability of a slow answer.")] = 0.0,
    slow_delay: Annotated[float, typer.Option(min=0.0, help="Seconds a slow answer waits.")] = 2.0,
    p_reset: Annotated[float, typer.Option(**_P, help="Probability of a connection reset.")] = 0.0,
    p_br: Annotated[float, typer.Option(**_P, help="Probability of an undecodable br body.")] = 0.0,
    p_stale: Annotated[
        float, typer.Option(**_P, help="Probability of repeating the previous snapshot.")
    ] = 0.0,
    latency_median: Annotated[
        float, typer.Option(min=0.0, help="Median answer delay, seconds (NSE-like latency).")
    ] = DEFAULT_LATENCY.median_s,
    latency_p99: Annotated[
        float, typer.Option(min=0.0, help="99th-percentile answer delay, seconds.")
    ] = DEFAULT_LATENCY.p99_s,
    latency_per_kb: Annotated[
        float, typer.Option(min=0.0, help="Extra delay per kB sent, seconds.")
    ] = DEFAULT_LATENCY.per_kb_s,
    no_latency: Annotated[
        bool, typer.Option("--no-latency", help="Answer at once, like loopback (no delay).")
    ] = False,
) -> None:
    """Serve a simulated NSE (option chains, cookies, rate limits, faults) on loopback."""
    from nsechain.sim.server import SimConfig, Simulator

    config = SimConfig(
        seed=seed,
        speed=speed,
        start=_start(start),
        host=host,
        port=port,
        rate_limit=rate_limit or None,
        rate_burst=rate_burst,
        cool_off_s=cool_off,
        cookie_max_age_s=cookie_max_age,
        faults=_faults(
            p_5xx, p_empty, p_block, p_truncate, p_slow, slow_delay, p_reset, p_br, p_stale
        ),
        prewarm=True,
        latency=LatencyModel()
        if no_latency
        else LatencyModel(latency_median, max(latency_p99, latency_median), latency_per_kb),
    )
    with Simulator(config) as sim:
        snap = sim.snapshot()
        typer.echo(f"NSE simulator on {sim.base_url}  (seed {seed}, speed {speed:g}x)")
        state = "open" if snap.is_open else "closed"
        typer.echo(f"simulated time {sim.now():%Y-%m-%d %H:%M:%S} IST, market {state}")
        typer.echo(f"counters: {sim.base_url}/__admin/counters")
        typer.echo("Ctrl+C to stop.")
        try:
            _wait_forever()
        except KeyboardInterrupt:
            typer.echo("stopping")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the main CLI."""
    app.command("simulate")(simulate)
