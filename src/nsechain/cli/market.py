"""``nsechain plan`` and ``nsechain calendar``: what the collector will fetch, and when.

Where it sits: the edge (``nsechain.cli``; ``cli.main`` calls ``register(app)``). Both commands
work offline from the caches under ``data/market`` (written by a running collector) or the
bundled lists; ``--fetch`` asks NSE (or ``--base-url``) first.
"""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nsechain.cli._settings import setting_help
from nsechain.errors import ConfigError, NsechainError

if TYPE_CHECKING:  # imported when a command runs: `--help` stays light
    from nsechain.config import Settings
    from nsechain.market.universe import Universe

__all__ = ["register"]

#: Typical expiry counts, to plan for symbols whose expiries nobody has fetched yet.
TYPICAL_EXPIRIES = {"NIFTY": 18}
TYPICAL_OTHER = 3


def _settings(**flags: object) -> "Settings":
    from nsechain.config import load_settings

    try:
        return load_settings(**flags)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def with_estimated_expiries(universe: "Universe", today: datetime) -> "tuple[Universe, int]":
    """Fill in typical expiry counts where none are known; returns how many were estimated.

    ``today``: the settings' clock (``clock_of``), so the placeholders lie after its date."""
    estimated = 0
    for symbol in universe.symbols:
        if universe.expiries.get(symbol):
            continue
        n = TYPICAL_EXPIRIES.get(symbol, TYPICAL_OTHER)
        # Placeholder dates: the plan needs only how many expiries and their order.
        fake = [today.date() + timedelta(days=7 * (i + 1)) for i in range(n)]
        universe = universe.with_expiries(symbol, fake, today)
        estimated += 1
    return universe, estimated


def plan(
    symbols: Annotated[str | None, typer.Option(help=setting_help("symbols"))] = None,
    rate: Annotated[float | None, typer.Option(help=setting_help("rate"))] = None,
    interval: Annotated[float | None, typer.Option(help=setting_help("interval_s"))] = None,
    shard: Annotated[str | None, typer.Option(help=setting_help("shard"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help=setting_help("data_dir"))] = None,
) -> None:
    """Print the request plan: per tier, pairs, cadence, requests per minute, full refresh."""
    from nsechain.collector.clock import clock_of
    from nsechain.collector.targets import Targets, policy_of
    from nsechain.market.plan import make_plan, render_plan
    from nsechain.market.shard import parse_shard
    from nsechain.market.universe import Universe

    s = _settings(symbols=symbols, rate=rate, interval_s=interval, shard=shard, data_dir=data_dir)
    targets = Targets(s)
    universe, estimated = with_estimated_expiries(targets.universe, clock_of(s).now())
    try:
        p = make_plan(
            universe.plan_items(s.expiries_per_symbol or None),
            budget=s.rate,
            interval_s=s.interval_s,
            headroom=s.plan_headroom,
            policy=policy_of(s),
            shard=parse_shard(s.shard) if s.shard else None,
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    whole = len(Universe.bundled()) if s.shard else None
    summary = p.summary(
        shard=parse_shard(s.shard) if s.shard else None,
        universe_symbols=whole,
        configured_budget=s.rate,
    )
    typer.echo(render_plan(summary))
    source = universe.source
    typer.echo(f"\nUniverse: {len(universe)} underlyings from the {source} list.")
    if estimated:
        typer.echo(
            f"Expiries estimated for {estimated} underlyings (NIFTY 18, others 3): no collector "
            "has fetched them yet."
        )


def calendar(
    fetch: Annotated[bool, typer.Option("--fetch", help="Ask NSE for this year's list.")] = False,
    base_url: Annotated[str | None, typer.Option(help=setting_help("base_url"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help=setting_help("data_dir"))] = None,
    day: Annotated[
        str | None, typer.Option(help="Describe this date (YYYY-MM-DD) [default: today]")
    ] = None,
) -> None:
    """Print today's market state and the next session (NSE F&O calendar, IST)."""
    from nsechain.collector.clock import clock_of
    from nsechain.collector.session import TradingCalendar
    from nsechain.nse.client import NseClient

    s = _settings(base_url=base_url, data_dir=data_dir)
    now = clock_of(s).now()
    if day is not None:
        try:
            now = now.replace(*date.fromisoformat(day).timetuple()[:3])
        except ValueError:
            typer.echo(f"error: --day {day!r} is not YYYY-MM-DD", err=True)
            raise typer.Exit(2) from None
    client = NseClient(s) if fetch else None
    try:
        body = None if client is None else (lambda: client.fetch_holidays(lambda b, _e: b)[0])
        cal = TradingCalendar(s, body).calendar(now)
    except NsechainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if client is not None:
            client.close()
    typer.echo(cal.describe(now))


def register(app: typer.Typer) -> None:
    app.command()(plan)
    app.command()(calendar)
