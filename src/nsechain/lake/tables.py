"""The lake's catalog, warehouse, tables, and the one retry loop of every commit.

Where it sits: the bottom of ``nsechain.lake``; ``writer`` and ``maintain`` open tables here.
Tables (namespace ``lake_namespace``):

- ``option_quotes``: ``QUOTES_SCHEMA``, partitioned by ``day(exchange_ts)``;
- ``fetch_log``: ``FETCH_LOG_SCHEMA``, partitioned by ``day(fetched_at)``.

Iceberg keeps instants in UTC (``timestamptz``); our Arrow schemas say ``Asia/Kolkata``, which
pyiceberg refuses, so lake files are written with the same instants labelled UTC. A UTC day is
the IST trading day for every moment of a session (IST 05:30 is UTC midnight).

pyiceberg's own commit retries are switched off (``commit.retry.num-retries = 0``) on our
tables: its retry re-applies an overwrite's delete to the newer table, which would drop rows a
concurrent writer added after compaction read the day. Every commit instead goes through
``commit_with_retry``, which re-runs the caller's whole attempt (refresh, re-check, redo).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from nsechain.config import Settings
from nsechain.contract import FETCH_LOG_SCHEMA, QUOTES_SCHEMA
from nsechain.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = [
    "BATCH_KEY",
    "TABLES",
    "LakeError",
    "LakeTable",
    "catalog_properties",
    "commit_with_retry",
    "days_filter",
    "open_catalog",
    "open_table",
    "partition_day",
    "to_utc",
]

log = logging.getLogger(__name__)

#: Snapshot-summary key holding the writer's batch id: the exactly-once check reads it.
BATCH_KEY = "nsechain.batch-id"
T = TypeVar("T")


class LakeError(StorageError):
    """The lake could not be reached or written (catalog, warehouse, or a commit gave up)."""


@dataclass(frozen=True)
class LakeTable:
    name: str
    schema: pa.Schema  # as the rest of nsechain sees it (IST timestamps)
    day_column: str  # the partition source: day(<day_column>)


TABLES = {
    "option_quotes": LakeTable("option_quotes", QUOTES_SCHEMA, "exchange_ts"),
    "fetch_log": LakeTable("fetch_log", FETCH_LOG_SCHEMA, "fetched_at"),
}
#: Sort order of a compacted day: one snapshot's strikes side by side, a contract's day in a row.
SORT_KEYS = ("symbol", "expiry", "strike", "option_type", "exchange_ts")
_PROPERTIES = {
    "commit.retry.num-retries": "0",  # ours, not pyiceberg's (see the module docstring)
    "write.parquet.compression-codec": "zstd",
    "format-version": "2",
}


_EPOCH = date(1970, 1, 1)


def partition_day(value: Any) -> date:
    """A ``day()`` partition value as a date (pyiceberg gives days since 1970, or a date)."""
    return value if isinstance(value, date) else _EPOCH + timedelta(days=int(value))


def days_filter(column: str, first: date, last: date | None = None) -> str:
    """pyiceberg's row filter for ``column`` within the UTC days ``first`` to ``last``
    (inclusive; ``first`` alone: that day), which plans exactly those day partitions."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime.combine(last or first, start.timetz()) + timedelta(days=1)
    return f"{column} >= '{start.isoformat()}' AND {column} < '{end.isoformat()}'"


def to_utc(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every zoned timestamp labelled UTC (same instants, Iceberg's zone)."""
    return pa.schema(
        [f.with_type(pa.timestamp(f.type.unit, tz="UTC")) if _zoned(f.type) else f for f in schema]
    )


def _zoned(kind: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(kind) and kind.tz is not None)


def _warehouse(settings: Settings) -> str:
    where = settings.lake_warehouse
    if not where:
        raise ConfigError("lake_warehouse is not set: give a folder or s3://bucket/prefix")
    if where.startswith("s3://"):
        return where.rstrip("/")
    if "://" in where and not where.startswith("file://"):
        raise ConfigError(f"lake_warehouse={where}: use a local folder, file:// or s3://")
    folder = Path(where.removeprefix("file://")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder.as_uri()


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg's ``load_catalog`` properties of the lake (``type``, ``uri``, ``warehouse``,
    S3): what other engines need to find the same tables (Ray Data's ``read_iceberg``
    ``catalog_kwargs``, with ``name``; ``examples/ray_pcr.py``)."""
    if not settings.lake_catalog_url:
        raise ConfigError("lake_catalog_url is not set: e.g. postgresql+psycopg://user@host/db")
    props = {"type": "sql", "uri": settings.lake_catalog_url, "warehouse": _warehouse(settings)}
    if settings.lake_s3_endpoint:
        props["s3.endpoint"] = settings.lake_s3_endpoint
    props["s3.region"] = settings.lake_s3_region
    return props


def open_catalog(settings: Settings) -> Catalog:
    """pyiceberg's SQL catalog at ``lake_catalog_url`` over ``lake_warehouse``."""
    props = catalog_properties(settings)
    del props["type"]
    try:
        from pyiceberg.catalog.sql import SqlCatalog
    except ImportError as exc:
        raise ConfigError(
            f"the lake needs the extra: pip install 'nsechain[lake]' ({exc})"
        ) from None
    try:
        # Several writers starting at once may race to create the catalog's own tables.
        return commit_with_retry(lambda: SqlCatalog("nsechain", **props), 30.0, "open catalog")
    except Exception as exc:
        if isinstance(exc, LakeError | ConfigError):
            raise
        raise LakeError(f"lake catalog {settings.lake_catalog_url}: {exc}") from exc


def open_table(catalog: Catalog, namespace: str, kind: str) -> Table:
    """The lake table ``kind`` ('option_quotes' or 'fetch_log'), created on first use."""
    from pyiceberg.exceptions import (
        NamespaceAlreadyExistsError,
        NoSuchTableError,
        TableAlreadyExistsError,
    )
    from pyiceberg.transforms import DayTransform

    spec = TABLES[kind]
    ident = f"{namespace}.{spec.name}"
    try:
        return catalog.load_table(ident)
    except NoSuchTableError:
        pass
    with contextlib.suppress(NamespaceAlreadyExistsError):
        catalog.create_namespace(namespace)
    try:
        with (
            catalog.create_table_transaction(
                ident, schema=to_utc(spec.schema), properties=_PROPERTIES
            ) as txn,
            txn.update_spec() as update,
        ):
            update.add_field(spec.day_column, DayTransform(), f"{spec.day_column}_day")
    except TableAlreadyExistsError:  # another writer created it first
        pass
    return catalog.load_table(ident)


def _is_conflict(exc: Exception) -> bool:
    from pyiceberg.exceptions import CommitFailedException

    if isinstance(exc, CommitFailedException):
        return True
    # Two writers creating the catalog's tables or a namespace at once: SQLAlchemy's
    # IntegrityError / ProgrammingError (duplicate key). Retried like a commit conflict. A
    # catalog that cannot be reached at all is not a race: it fails at once (the lake thread
    # counts it and tries again at its next pass).
    if type(exc).__name__ == "OperationalError" and "connection" in str(exc).lower():
        return False
    return type(exc).__name__ in ("IntegrityError", "ProgrammingError", "OperationalError")


def commit_with_retry(
    attempt: Callable[[], T],
    deadline_s: float,
    what: str,
    *,
    on_conflict: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``attempt`` until it does not hit a concurrent commit, with jittered backoff.

    ``attempt`` must be a whole unit: refresh the table, re-check what is already committed,
    then commit. No limit on tries, only on time (``deadline_s``): then LakeError.
    """
    started = monotonic()
    tries = 0
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not _is_conflict(exc):
                raise
            tries += 1
            if on_conflict is not None:
                on_conflict()
            waited = monotonic() - started
            if waited >= deadline_s:
                raise LakeError(
                    f"{what}: still conflicting after {tries} tries in {waited:.0f} s; "
                    "nothing was lost, run it again (or raise lake_commit_deadline_s)"
                ) from exc
            # Full jitter keeps N writers that collided from colliding again in step.
            delay = random.uniform(0.0, min(2.0, 0.05 * 2 ** min(tries, 6)))
            log.info("lake_conflict what=%s try=%d retry_in_s=%.2f", what, tries, delay)
            sleep(delay)
