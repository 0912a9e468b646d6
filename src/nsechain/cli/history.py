"""CLI commands for history in and out: ``import``, ``reprocess`` and ``replay``.

Where it sits: the edge. ``nsechain.cli`` calls ``register(app)``. The work is in
``store.history`` (import, reprocess) and ``analytics.replay``; this module builds Settings,
shows a progress bar and prints the reports.
"""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nsechain.cli._settings import setting_help
from nsechain.errors import NsechainError

__all__ = ["register"]

_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)

DataDirOption = Annotated[Path | None, typer.Option(help=setting_help("data_dir"))]
DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: settings)")]


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    _err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code)


def _import(paths: list[Path], symbol: str | None, data_dir: Path | None, db: Path | None) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from nsechain.cli._settings import settings_or_exit
    from nsechain.collector.manager import make_loader
    from nsechain.logs import configure_logging
    from nsechain.store.history import import_paths
    from nsechain.store.importer import walk

    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    configure_logging("WARNING", settings.log_format, _err)
    total = sum(1 for _ in walk([p for p in paths if p.exists()]))
    columns = (TextColumn("import"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True, disable=total < 20) as bar:
        task = bar.add_task("import", total=total)
        report = import_paths(
            settings,
            paths,
            make_loader(settings),
            symbol=symbol,
            on_file=lambda _name: bar.advance(task),
        )
    for rejected in report.rejected:
        _out.print(f"rejected {rejected.source}: {rejected.reason}", highlight=False)
    for conflict in report.conflicts:
        _out.print(f"conflict {conflict}", highlight=False)
    _out.print(
        f"files={report.files} bodies={report.bodies} snapshots={report.snapshots} "
        f"rows={report.rows} duplicates_skipped={report.duplicates} "
        f"conflicts={len(report.conflicts)} rejected_files={len(report.rejected)} "
        f"into {settings.db_path}",
        highlight=False,
    )


def _reprocess(day: str, data_dir: Path | None, db: Path | None) -> None:
    from nsechain.cli._settings import settings_or_exit
    from nsechain.logs import configure_logging
    from nsechain.store.history import reprocess_day

    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise _fail(ValueError(f"--day {day!r}: expected YYYY-MM-DD"), 2) from None
    settings = settings_or_exit(data_dir=data_dir, db_path=db)
    configure_logging("WARNING", settings.log_format, _err)
    r = reprocess_day(settings, when)
    for rejected in r.rejected:
        _out.print(f"rejected {rejected.source}: {rejected.reason}", highlight=False)
    _out.print(
        f"day={r.day} raw_files={r.raw_files} bodies={r.bodies} snapshots={r.snapshots} "
        f"replaced={r.replaced} rows_before={r.rows_before} rows_after={r.rows_after} "
        f"uncovered_snapshots_kept={r.uncovered} rejected={len(r.rejected)}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``import``, ``reprocess``, ``replay`` and ``compact`` to the ``nsechain`` app."""

    @app.command("import")
    def import_(
        paths: Annotated[list[Path], typer.Argument(help="Files, folders, .gz, .zip, raw files")],
        symbol: Annotated[
            str | None,
            typer.Option(
                help="Symbol of captures whose payload names none (before file names) "
                "[default: from the payload]"
            ),
        ] = None,
        data_dir: DataDirOption = None,
        db: DbOption = None,
    ) -> None:
        """Import captured chains (v3, legacy, NextApi JSON; our raw files) exactly once."""
        try:
            _import(paths, symbol, data_dir, db)
        except NsechainError as exc:
            raise _fail(exc) from None

    @app.command()
    def reprocess(
        day: Annotated[str, typer.Option("--day", help="IST day YYYY-MM-DD")],
        data_dir: DataDirOption = None,
        db: DbOption = None,
    ) -> None:
        """Re-derive a day's rows from its raw capture through the current parser."""
        try:
            _reprocess(day, data_dir, db)
        except NsechainError as exc:
            raise _fail(exc) from None

    @app.command()
    def replay(
        out: Annotated[Path, typer.Option(help="Output file")],
        to: Annotated[str, typer.Option("--to", help="parquet or csv")] = "parquet",
        symbol: Annotated[str | None, typer.Option(help="One underlying (default: all)")] = None,
        start: Annotated[
            str | None, typer.Option(help="IST 'YYYY-MM-DD[ HH:MM]' (default: the first snapshot)")
        ] = None,
        end: Annotated[
            str | None,
            typer.Option(help="IST 'YYYY-MM-DD[ HH:MM]' (included; default: the last snapshot)"),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Write snapshots in exchange-time order (what desk.replay yields) to one file."""
        from nsechain.analytics.replay import write_batches
        from nsechain.config import load_settings
        from nsechain.query import connect

        try:
            with connect(db or load_settings().db_path) as desk:
                n = write_batches(desk.replay(symbol, start, end), out, to)
        except (NsechainError, ValueError) as exc:
            raise _fail(exc) from None
        _out.print(f"replayed {n} rows to {out}", highlight=False)

    @app.command()
    def compact(
        db: DbOption = None,
        lock_timeout: Annotated[
            float, typer.Option(min=0.0, help="Seconds to wait for a running load.")
        ] = 30.0,
    ) -> None:
        """Rewrite the database: closed days sorted, free blocks given back (after the close)."""
        from nsechain.analytics.views import create_views
        from nsechain.config import load_settings
        from nsechain.store.compact import compact as run_compact

        path = db or load_settings().db_path
        try:
            r = run_compact(path, lock_timeout_s=lock_timeout, schema_hook=create_views)
        except NsechainError as exc:
            raise _fail(exc) from None
        _out.print(
            f"compacted days={r.days} sorted_days={r.sorted_days} rows={r.quote_rows} "
            f"bytes {r.bytes_before:,} -> {r.bytes_after:,} in {r.seconds:.1f} s",
            highlight=False,
        )
