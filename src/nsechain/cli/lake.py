"""CLI commands of the Iceberg lake: ``nsechain lake commit|compact|expire|orphans|retain``.

Where it sits: the edge. ``nsechain.cli.main`` calls ``register(app)``. The work is in
``nsechain.lake`` (an optional extra: ``pip install 'nsechain[lake]'``); this module builds
Settings from flags, reads the wall clock (the one place that may) and prints one line each.
"""

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from nsechain.cli._settings import err, settings_or_exit
from nsechain.errors import NsechainError

__all__ = ["register"]

lake_app = typer.Typer(help="The Iceberg lake: commit tick files, compact days, clean up.")

CatalogOption = Annotated[
    str | None, typer.Option("--catalog", help="SQL catalog URL (lake_catalog_url)")
]
WarehouseOption = Annotated[
    str | None, typer.Option("--warehouse", help="Folder or s3://bucket/prefix (lake_warehouse)")
]
DataDirOption = Annotated[Path | None, typer.Option(help="Root of this collector's Parquet.")]


def _settings(catalog: str | None, warehouse: str | None, **flags: Any) -> Any:
    return settings_or_exit(lake_catalog_url=catalog, lake_warehouse=warehouse, **flags)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(1)


@lake_app.command("commit")
def commit(
    catalog: CatalogOption = None,
    warehouse: WarehouseOption = None,
    data_dir: DataDirOption = None,
    every: Annotated[
        float | None, typer.Option(help="Keep committing every N seconds (default: once)")
    ] = None,
) -> None:
    """Commit this collector's processed tick files to the lake, exactly once."""
    from nsechain.lake.writer import LakeWriter
    from nsechain.timeutil import now_ist

    settings = _settings(catalog, warehouse, data_dir=data_dir)
    try:
        with LakeWriter(settings) as writer:
            while True:
                typer.echo(writer.commit_pending(now_ist()).line())
                if every is None:
                    return
                time.sleep(every)
    except NsechainError as exc:
        raise _fail(exc) from None


@lake_app.command("compact")
def compact(
    day: Annotated[
        str | None, typer.Option(help="IST day YYYY-MM-DD (default: closed days)")
    ] = None,
    catalog: CatalogOption = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Rewrite a day (or every closed day of many files) sorted into a few zstd files, in one
    atomic commit; the sort spills to disk beyond lake_compact_memory_mb."""
    from nsechain.lake.compact import compact_days
    from nsechain.timeutil import now_ist

    settings = _settings(catalog, warehouse)
    try:
        only = date.fromisoformat(day) if day else None
        for line in compact_days(settings, now_ist().date(), only=only):
            typer.echo(line)
    except ValueError as exc:
        raise _fail(ValueError(f"--day {day}: {exc}; use YYYY-MM-DD")) from None
    except NsechainError as exc:
        raise _fail(exc) from None


@lake_app.command("expire")
def expire(catalog: CatalogOption = None, warehouse: WarehouseOption = None) -> None:
    """Expire snapshots older than lake_snapshot_retention_s (the current one always stays)."""
    from nsechain.lake.maintain import expire_snapshots
    from nsechain.timeutil import now_ist

    settings = _settings(catalog, warehouse)
    try:
        typer.echo(expire_snapshots(settings, now_ist()))
    except NsechainError as exc:
        raise _fail(exc) from None


@lake_app.command("orphans")
def orphans(
    catalog: CatalogOption = None,
    warehouse: WarehouseOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, delete nothing")] = False,
) -> None:
    """Delete lake files no snapshot references and older than lake_orphan_grace_s."""
    from nsechain.lake.maintain import remove_orphans
    from nsechain.timeutil import now_ist

    settings = _settings(catalog, warehouse)
    try:
        typer.echo(remove_orphans(settings, now_ist(), dry_run=dry_run))
    except NsechainError as exc:
        raise _fail(exc) from None


@lake_app.command("retain")
def retain(
    catalog: CatalogOption = None,
    warehouse: WarehouseOption = None,
    data_dir: DataDirOption = None,
    days: Annotated[
        int | None, typer.Option(min=1, help="Days to keep locally (local_retention_days)")
    ] = None,
) -> None:
    """Delete days older than local_retention_days from the local DuckDB, once in the lake."""
    from nsechain.collector.clock import clock_of
    from nsechain.lake.retention import retain_once

    settings = _settings(catalog, warehouse, data_dir=data_dir, local_retention_days=days)
    if settings.local_retention_days is None:
        raise _fail(ValueError("no local_retention_days: pass --days N or set it"))
    try:  # today by the settings' clock (clock_start), the wall clock by default
        typer.echo(retain_once(settings, clock_of(settings).now().date()).line())
    except NsechainError as exc:
        raise _fail(exc) from None


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")
