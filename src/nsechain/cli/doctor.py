"""``nsechain doctor``: check, from this machine, that NSE can be reached, and say what to do.

Where it sits: the edge (``nsechain.cli``; ``cli.main`` calls ``register(app)``). The checks
are ``nse/doctor.py``'s; this prints them as a table with timings, then the advice, and exits
1 when no route and transport brought a chain.
"""

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nsechain.cli._settings import err, settings_or_exit
from nsechain.errors import ConfigError

__all__ = ["register"]


def doctor(
    symbol: Annotated[str, typer.Option(help="Underlying to ask contract-info and a chain of.")] = (
        "NIFTY"
    ),
    base_url: Annotated[
        str | None, typer.Option(help="NSE, or a simulator (default: the base_url setting).")
    ] = None,
    proxy: Annotated[
        list[str] | None,
        typer.Option(help="A proxy route to check (repeatable); adds to proxies (default: none)."),
    ] = None,
    direct: Annotated[
        bool, typer.Option("--direct/--no-direct", help="Check the direct route too.")
    ] = True,
) -> None:
    """Diagnose access to NSE: DNS, TCP, TLS, bootstrap cookies, contract-info and a chain,
    per route and per transport, timed; ends with what to do. Exit 1 when nothing works."""
    from nsechain.nse.doctor import diagnose

    flags: dict[str, Any] = {"base_url": base_url}
    if not direct:
        flags["direct"] = False
    settings = settings_or_exit(**flags)
    if proxy:
        settings = settings_or_exit(**flags, proxies=[*settings.proxies, *proxy])
    console = Console(soft_wrap=True)
    console.print(f"nsechain doctor: {settings.base_url} (symbol {symbol.upper()})")
    try:
        report = diagnose(settings, symbol.upper())
    except ConfigError as exc:  # e.g. no route: direct off and no proxies
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    table = Table("step", "route", "transport")
    table.add_column("result", no_wrap=True, min_width=len("fingerprint_block"))
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for s in report.steps:
        result = "[green]ok[/green]" if s.ok else f"[red]{s.outcome}[/red]"
        table.add_row(s.name, s.route, s.transport, result, f"{s.ms:,.0f}", s.detail)
    console.print(table)
    for line in report.advice:
        console.print(f"advice: {line}", highlight=False)
    if not report.works:
        console.print("[red]nothing got through to NSE[/red]")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
