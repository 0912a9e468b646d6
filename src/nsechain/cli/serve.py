"""``nsechain serve``: the dashboard in the foreground, reading a database a collector writes.

Where it sits: the edge; ``cli.main`` calls ``register(app)``. The collector itself can serve
the same dashboard in its own process (``nsechain collect --dashboard``, via
``web.start_dashboard``).
"""

from pathlib import Path
from typing import Annotated

import typer

from nsechain.cli._settings import setting_help

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback exposes the data.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free).")] = 8765,
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file (default: settings db_path).")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help=setting_help("data_dir")),
    ] = None,
    refresh: Annotated[
        float, typer.Option(min=1.0, help="Seconds between the health page's refreshes.")
    ] = 5.0,
    lock_timeout: Annotated[
        float,
        typer.Option(min=0.0, help="Seconds a request waits while a batch load holds the file."),
    ] = 10.0,
) -> None:
    """Serve the dashboard (collection health, option chains) on http://HOST:PORT.

    Reads the database read-only, one request at a time, waiting while the collector's batch
    load holds it; reads status.json for the collector's threads. Offline: no CDN."""
    from rich.console import Console

    from nsechain.config import load_settings
    from nsechain.errors import ConfigError
    from nsechain.logs import configure_logging
    from nsechain.web.server import serve_forever

    err = Console(stderr=True)
    try:
        settings = load_settings(db_path=db, data_dir=data_dir)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[yellow]warning:[/yellow] listening on {host}: the dashboard has no login; "
            "anyone who can reach this address can read the data"
        )

    def ready(url: str) -> None:
        err.print(f"dashboard on [bold]{url}/health[/bold] and {url}/chain (Ctrl+C stops)")

    try:
        serve_forever(
            settings, host, port, lock_timeout_s=lock_timeout, refresh_s=refresh, on_ready=ready
        )
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
