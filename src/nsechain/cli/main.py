"""The ``nsechain`` command line: the ``app`` and its root commands.

Where it sits: the edge. It builds the one ``Settings`` object (flags > env > TOML > defaults),
configures logging, and hands both to the components. Commands: ``collect``, ``status``,
``ingest``, plus those of the other modules of this package (``register(app)`` each).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from nsechain.cli._settings import err, settings_or_exit
from nsechain.collector.status import load_status
from nsechain.collector.view import status_view
from nsechain.config import Settings
from nsechain.errors import ConfigError, DatabaseLocked, NsechainError
from nsechain.logs import configure_logging

app = typer.Typer(
    help="Record NSE option chains every minute into Parquet and DuckDB, and analyse them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
# soft_wrap: an error is one line however narrow the terminal (or none, under a supervisor).


def _help(field: str) -> str:
    """A flag's help: the Settings description, its default and its environment variable."""
    info = Settings.model_fields[field]
    default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
    if isinstance(default, list):
        default = ",".join(default)
    return f"{info.description} [default: {default}; env NSECHAIN_{field.upper()}]"


@app.command()
def collect(
    symbols: Annotated[
        str | None, typer.Option(help=_help("symbols") + " e.g. NIFTY,M&M or ALL")
    ] = None,
    expiries: Annotated[int | None, typer.Option(help=_help("expiries_per_symbol"))] = None,
    interval: Annotated[float | None, typer.Option(help=_help("interval_s"))] = None,
    batch_interval: Annotated[float | None, typer.Option(help=_help("batch_interval_s"))] = None,
    rate: Annotated[float | None, typer.Option(help=_help("rate"))] = None,
    in_flight: Annotated[int | None, typer.Option(help=_help("in_flight"))] = None,
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
    base_url: Annotated[str | None, typer.Option(help=_help("base_url"))] = None,
    ignore_market_hours: Annotated[
        bool | None, typer.Option("--ignore-market-hours", help=_help("ignore_market_hours"))
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="One tick, then one load, then exit.")
    ] = False,
    live: Annotated[
        bool | None,
        typer.Option("--live/--no-live", help="Live status view [default: on when a terminal]"),
    ] = None,
    log_format: Annotated[str | None, typer.Option(help=_help("log_format"))] = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Serve the dashboard from this process too.")
    ] = False,
    dashboard_port: Annotated[int, typer.Option(min=0, max=65535, help="Its port.")] = 8765,
) -> None:
    """Collect option chains: ticks to Parquet, batches to DuckDB, until Ctrl+C."""
    from nsechain.collector.manager import OptionsThreadedManager

    settings = settings_or_exit(
        preflight=True,
        symbols=symbols,
        expiries_per_symbol=expiries,
        interval_s=interval,
        batch_interval_s=batch_interval,
        rate=rate,
        in_flight=in_flight,
        data_dir=data_dir,
        db_path=db,
        base_url=base_url,
        ignore_market_hours=ignore_market_hours,
        log_format=log_format,
    )
    show_live = (sys.stderr.isatty() if live is None else live) and not once
    configure_logging(settings.log_level, settings.log_format, err if show_live else None)
    manager = OptionsThreadedManager(settings)
    try:
        manager.claim_data_dir()  # before the dashboard, the sweep or any request
    except ConfigError as exc:  # DataDirBusy: another collector has this data dir
        manager.collector.close()
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if once:
        _collect_once(manager, settings)
        return
    dash = None
    if dashboard:
        from nsechain.web import start_dashboard

        try:
            dash = start_dashboard(manager, "127.0.0.1", dashboard_port)
        except ConfigError as exc:  # the port is taken
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        err.print(f"dashboard on {dash.url}/health")
    try:
        if not show_live:
            manager.run_until_stopped()
            return
        with Live(console=err, refresh_per_second=2) as view:
            manager.run_until_stopped(
                every=lambda: view.update(status_view(manager.get_thread_status(), limit=12))
            )
    finally:
        if dash is not None:
            dash.stop()


def _collect_once(manager: Any, settings: Settings) -> None:
    tick, loaded = manager.run_once()
    outcomes = ", ".join(f"{k}={v}" for k, v in sorted(tick.outcomes.items())) or "none"
    console.print(f"tick: planned={tick.planned} rows={tick.quote_rows} fetches: {outcomes}")
    if tick.error:
        console.print(f"[yellow]last error:[/yellow] {tick.error}")
    if loaded is not None:
        console.print(
            f"load: files={loaded.files} rows={loaded.quote_rows} into {settings.db_path}"
        )


def _db_rows(settings: Settings) -> dict[str, tuple[int, str | None]] | None:
    """Rows and latest NSE time per symbol from DuckDB; None if the file is absent or busy."""
    from nsechain.store.loader import open_db

    if not settings.db_path.exists():
        return None
    try:
        conn = open_db(settings.db_path, read_only=True)
    except DatabaseLocked:
        return None
    try:
        rows = conn.execute(
            "SELECT symbol, count(*), max(exchange_ts)::VARCHAR FROM option_quotes GROUP BY symbol"
        ).fetchall()
    except Exception:  # a fresh file without tables yet
        return None
    finally:
        conn.close()
    return {sym: (n, ts) for sym, n, ts in rows}


@app.command()
def status(
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
) -> None:
    """Show what the collector is doing: threads, last tick, per-symbol freshness, errors."""
    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    st, problem = load_status(settings.status_path)
    if problem is not None:
        err.print(
            f"[red]error:[/red] collector status ignored: {problem}; a running collector "
            f"replaces it within {settings.status_interval_s:g} s",
            highlight=False,
        )
        raise typer.Exit(1)
    if st is None:
        err.print(
            f"no status at {settings.status_path}: no collector has run with data dir "
            f"{settings.data_dir} (start one with `nsechain collect`)"
        )
        raise typer.Exit(1)
    db_rows = _db_rows(settings)
    console.print(status_view(st, db_rows))
    if db_rows is None:
        console.print(
            f"[dim]database {settings.db_path} not readable now (absent or being loaded)[/dim]"
        )


@app.command()
def ingest(
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
) -> None:
    """Load every pending Parquet file into DuckDB now (exactly once)."""
    from nsechain.collector.manager import make_loader

    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    configure_logging(settings.log_level, settings.log_format)
    loader = make_loader(settings)
    try:
        result = loader.load_pending()
    except NsechainError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"loaded files={result.files} quote_rows={result.quote_rows} "
        f"fetch_rows={result.fetch_rows} skipped_snapshots={result.skipped_snapshots} "
        f"into {settings.db_path}"
    )


@app.command()
def rebuild(
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even when the database looks healthy.")
    ] = False,
) -> None:
    """Re-create the DuckDB database from the tick files (the damaged one is moved aside)."""
    from nsechain.collector.manager import make_loader
    from nsechain.store.dirlock import DataDirLock
    from nsechain.store.rebuild import rebuild_database

    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    configure_logging(settings.log_level, settings.log_format)
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire("rebuild")  # no collector may load while the database is re-created
        result = rebuild_database(lambda: make_loader(settings), force=force)
    except NsechainError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2 if isinstance(exc, ConfigError) else 1) from None
    finally:
        lock.release()
    if result is None:
        console.print(
            f"database {settings.db_path} is healthy; nothing to rebuild (--force rebuilds anyway)"
        )
        return
    if result.moved_aside is not None:
        why = result.problem or "rebuild asked for"
        console.print(f"moved {settings.db_path} aside to {result.moved_aside} ({why})")
    console.print(
        f"rebuilt files={result.files} quote_rows={result.quote_rows} "
        f"fetch_rows={result.fetch_rows} skipped_snapshots={result.skipped_snapshots} "
        f"quarantined={result.quarantined} into {settings.db_path}",
        highlight=False,
    )


def _register_subcommands() -> None:
    # One module per command group; they import their heavy modules lazily.
    from nsechain.cli import demo, desk, history, market, serve, simulate

    market.register(app)
    desk.register(app)
    simulate.register(app)
    demo.register(app)
    serve.register(app)
    history.register(app)


_register_subcommands()
