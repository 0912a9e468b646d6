"""The ``nsechain`` command line: the ``app`` and its root commands.

Where it sits: the edge. It builds the one ``Settings`` object (flags > env > TOML > defaults),
configures logging, and hands both to the components. Commands: ``collect``, ``status``,
``ingest``, plus those of the other modules of this package (``register(app)`` each).
"""

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from nsechain.cli._richhelp import import_rich_help
from nsechain.cli._settings import err, setting_help, settings_or_exit
from nsechain.errors import ConfigError, DatabaseLocked, NsechainError

if TYPE_CHECKING:  # the commands import their modules when run: `--help` stays light
    from nsechain.config import Settings


class OneLineErrors(TyperGroup):
    """Every bad argument of every command is ONE line naming it, and exit 2.

    Click (under typer) prints a usage box over several lines; here a usage error is
    ``error: Invalid value for '--strikes': … (see `nsechain show --help`)`` on stderr.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        run = super().main
        asked = sys.argv[1:] if args is None else list(args)
        if not asked or "--help" in asked:  # a wrong guess only costs the usual import
            import_rich_help()
        if not standalone_mode:
            return run(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = run(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            err.print("aborted")
            sys.exit(1)
        except typer.TyperException as exc:  # typer's click: usage and parameter errors
            ctx = getattr(exc, "ctx", None)
            see = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            err.print(f"[red]error:[/red] {message}{see}", highlight=False)
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    help="Record NSE option chains every minute into Parquet and DuckDB, and analyse them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
# soft_wrap: an error is one line however narrow the terminal (or none, under a supervisor).


_help = setting_help


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
    shard: Annotated[str | None, typer.Option(help=_help("shard"))] = None,
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
    from rich.live import Live

    from nsechain.collector.manager import OptionsThreadedManager
    from nsechain.collector.view import status_view
    from nsechain.logs import configure_logging

    settings = settings_or_exit(
        preflight=True,
        symbols=symbols,
        expiries_per_symbol=expiries,
        interval_s=interval,
        batch_interval_s=batch_interval,
        rate=rate,
        in_flight=in_flight,
        shard=shard,
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
                every=lambda: view.update(
                    status_view(manager.get_thread_status(), limit=12, now=manager.clock.now())
                )
            )
    finally:
        if dash is not None:
            dash.stop()


def _collect_once(manager: Any, settings: "Settings") -> None:
    tick, loaded = manager.run_once()
    outcomes = ", ".join(f"{k}={v}" for k, v in sorted(tick.outcomes.items())) or "none"
    console.print(f"tick: planned={tick.planned} rows={tick.quote_rows} fetches: {outcomes}")
    if tick.error:
        console.print(f"[yellow]last error:[/yellow] {tick.error}")
    if loaded is not None:
        console.print(
            f"load: files={loaded.files} rows={loaded.quote_rows} into {settings.db_path}"
        )


def _db_rows(settings: "Settings") -> dict[str, tuple[int, str | None]] | None:
    """Rows and latest NSE time per symbol from DuckDB; None if the file is absent or busy.

    Reads the loader's small ``latest_snapshots`` table, not the quote rows: the same cost on
    day 1 and day 500 (``store.latest.symbol_rows``)."""
    from nsechain.store.db import open_db
    from nsechain.store.latest import symbol_rows

    if not settings.db_path.exists():
        return None
    try:
        conn = open_db(settings.db_path, read_only=True)
    except DatabaseLocked:
        return None
    try:
        rows = symbol_rows(conn)
    except Exception:  # a fresh file without tables yet
        return None
    finally:
        conn.close()
    return {sym: (n, ts) for sym, n, ts in rows}


@app.command()
def status(
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the verdict and health as one JSON object.")
    ] = False,
) -> None:
    """Is the collector recording? One verdict, then threads and per-symbol freshness.

    Exits 0 when recording, 1 when degraded, 2 when not recording (or stopped, or none ran).
    """
    import orjson

    from nsechain.collector.clock import clock_of
    from nsechain.collector.health import reader_verdict
    from nsechain.collector.status import load_status
    from nsechain.collector.view import status_view, verdict_line

    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    st, problem = load_status(settings.status_path)
    if problem is not None and not as_json:
        err.print(
            f"[red]error:[/red] collector status ignored: {problem}; a running collector "
            f"replaces it within {settings.status_interval_s:g} s",
            highlight=False,
        )
        raise typer.Exit(2)  # no readable status: not known to be recording
    verdict = reader_verdict(st, settings)
    if as_json:
        doc = {
            **verdict,
            "status_path": str(settings.status_path),
            "updated_at": (st or {}).get("updated_at"),
            "state": (st or {}).get("state"),
            "pid": (st or {}).get("pid"),
            "health": (st or {}).get("health"),
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        raise typer.Exit(verdict["exit_code"])
    db_rows = _db_rows(settings)
    try:
        view = (
            None
            if st is None
            else status_view(st, db_rows, verdict=verdict, now=clock_of(settings).now())
        )
    except (KeyError, TypeError, ValueError, AttributeError):  # a status.json of another shape
        view = None
    console.print(verdict_line(verdict) if view is None else view, soft_wrap=True)
    if view is not None and db_rows is None:
        console.print(
            f"[dim]database {settings.db_path} not readable now (absent or being loaded)[/dim]"
        )
    raise typer.Exit(verdict["exit_code"])


@app.command()
def ingest(
    data_dir: Annotated[Path | None, typer.Option(help=_help("data_dir"))] = None,
    db: Annotated[Path | None, typer.Option(help=_help("db_path"))] = None,
) -> None:
    """Load every pending Parquet file into DuckDB now (exactly once)."""
    from nsechain.collector.manager import make_loader
    from nsechain.logs import configure_logging

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
    from nsechain.logs import configure_logging
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
    from nsechain.cli import demo, desk, doctor, history, lake, market, serve, simulate

    market.register(app)
    desk.register(app)
    simulate.register(app)
    demo.register(app)
    serve.register(app)
    history.register(app)
    lake.register(app)
    doctor.register(app)


_register_subcommands()
