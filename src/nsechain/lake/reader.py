"""Reading history from the lake for the analysis desk: pyiceberg plans, DuckDB scans.

Where it sits: beside ``lake.writer``, over ``lake.tables``; ``nsechain.query.Desk`` calls
``LakeReader.attach`` on each of its DuckDB sessions when a lake is configured (the CLI's
``show``/``pcr`` and ``query.connect()`` without a path do so from the settings).

``attach`` puts a temporary view named ``option_quotes`` (and ``fetch_log``) in front of the
local table of that name: the local rows, plus the lake's rows of every day the local table
does not hold. Days are UTC days, the lake's ``day()`` partition (the IST trading day for every
moment of a session), so one day comes from one side only: never twice, never half.

- **Planning** is pyiceberg's: the asked symbols and time range become a row filter, so the
  day partitions outside the range and (in a compacted, sorted day) the files whose symbol
  bounds miss are never listed; the files of days held locally are dropped from the plan.
- **Scanning** is DuckDB's ``read_parquet`` over the planned files (there is no DuckDB
  iceberg extension here). An ``s3://`` warehouse is scanned through a pyarrow dataset on the
  table's own filesystem instead (DuckDB has no S3 reader here either).
- **Times** in lake files are the same instants labelled UTC (``lake.tables``); DuckDB reads
  both sides as TIMESTAMPTZ, and the desk shows every result in IST, so answers are identical.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from nsechain.config import Settings
from nsechain.errors import ConfigError
from nsechain.lake.tables import TABLES, LakeError, open_catalog, partition_day

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = ["LakeReader", "Scope", "local_days", "reader_for", "scan_sql"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """What a desk call asks for: used to prune the lake's plan (None = no bound)."""

    symbols: tuple[str, ...] | None = None
    start: datetime | None = None  # aware instants, inclusive
    end: datetime | None = None
    tables: tuple[str, ...] = tuple(TABLES)  # which views the call reads


def _bounds(column: str, scope: Scope) -> str:
    """SQL bounds on ``column`` for ``scope`` (literals: these are our own datetimes)."""
    out = ""
    if scope.start is not None:
        out += f" AND {column} >= TIMESTAMPTZ '{scope.start.astimezone(UTC).isoformat()}'"
    if scope.end is not None:
        out += f" AND {column} <= TIMESTAMPTZ '{scope.end.astimezone(UTC).isoformat()}'"
    return out


def local_days(con: Any, table: str, column: str, scope: Scope = Scope()) -> set[date]:
    """The UTC days of ``column`` present in the local ``table`` within ``scope``'s range."""
    sql = (
        f"SELECT DISTINCT CAST(timezone('UTC', {column}) AS DATE) AS d FROM {table} "
        f"WHERE {column} IS NOT NULL{_bounds(column, scope)}"
    )
    return {row[0] for row in con.sql(sql).fetchall()}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reader_for(settings: Settings) -> LakeReader | None:
    """A reader of the configured lake, or None when no catalog is set (nothing changes) or
    it cannot be reached: then the desk answers from the local file, and says so once."""
    if not settings.lake_catalog_url:
        return None
    try:
        return LakeReader(settings)
    except (LakeError, ConfigError) as exc:  # down, or the lake extra not installed
        log.warning("lake unavailable, answering from the local database only: %s", exc)
        return None


class LakeReader:
    """Plans lake files for the desk and puts them behind its table names."""

    def __init__(self, settings: Settings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self._owns_catalog = catalog is None
        self.catalog = catalog if catalog is not None else open_catalog(settings)
        self._tables: dict[str, Table] = {}
        #: Plans by (table, snapshot, filter, local days): a held desk asking again plans once.
        self._plans: dict[tuple[str, int, str, frozenset[date]], list[str]] = {}

    def close(self) -> None:
        if self._owns_catalog:
            self.catalog.close()

    def _table(self, kind: str) -> Table | None:
        from pyiceberg.exceptions import NoSuchTableError

        table = self._tables.get(kind)
        if table is not None:
            table.refresh()
            return table
        with contextlib.suppress(NoSuchTableError):
            ident = f"{self.settings.lake_namespace}.{TABLES[kind].name}"
            self._tables[kind] = self.catalog.load_table(ident)
            return self._tables[kind]
        return None  # nothing committed yet: the lake adds no rows

    def _filter(self, kind: str, scope: Scope) -> str:
        """pyiceberg's row filter for ``scope`` (its string form: the values are ours)."""
        column = TABLES[kind].day_column
        terms = []
        if scope.symbols is not None:
            terms.append(f"symbol IN ({', '.join(_quote(s) for s in scope.symbols)})")
        if scope.start is not None:
            terms.append(f"{column} >= '{scope.start.astimezone(UTC).isoformat()}'")
        if scope.end is not None:
            terms.append(f"{column} <= '{scope.end.astimezone(UTC).isoformat()}'")
        return " AND ".join(terms) or "true"

    def plan(self, kind: str, scope: Scope, skip_days: set[date]) -> list[str]:
        """Paths of the lake files of ``kind`` that may hold rows of ``scope``, leaving out
        the files of ``skip_days`` (days the local table holds)."""
        table = self._table(kind)
        snapshot = None if table is None else table.current_snapshot()
        if table is None or snapshot is None:
            return []
        where = self._filter(kind, scope)
        key = (kind, snapshot.snapshot_id, where, frozenset(skip_days))
        if key not in self._plans:
            if len(self._plans) > 256:
                self._plans.clear()
            tasks = table.scan(row_filter=where).plan_files()
            days = ((t.file.file_path, partition_day(t.file.partition[0])) for t in tasks)
            self._plans[key] = [path for path, day in days if day not in skip_days]
        return self._plans[key]

    def attach(self, con: Any, scope: Scope = Scope()) -> dict[str, int]:
        """Put the lake behind ``option_quotes`` and ``fetch_log`` on ``con`` (temporary
        views over the local tables); returns the lake files added per table."""
        db = con.sql("SELECT current_database()").fetchall()[0][0]
        have = {
            row[0]
            for row in con.sql(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND database_name = current_database()"
            ).fetchall()
        }
        added = {}
        for kind, spec in TABLES.items():
            if kind not in have or kind not in scope.tables:
                continue
            local = f'"{db}".main.{kind}'
            days = local_days(con, local, spec.day_column, scope)
            files = self.plan(kind, scope, days)
            body = f"SELECT * FROM {local}"
            if files:
                body += f" UNION ALL BY NAME SELECT * FROM {self._scan(con, kind, files)}"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {kind} AS {body}")
            added[kind] = len(files)
        log.debug("lake_attach %s", " ".join(f"{k}_files={v}" for k, v in added.items()))
        return added

    def _scan(self, con: Any, kind: str, files: list[str]) -> str:
        return scan_sql(con, self._tables[kind], files, f"nsechain_lake_{kind}")


def scan_sql(con: Any, table: Table, files: list[str], name: str) -> str:
    """A DuckDB FROM item over ``table``'s data ``files``: read_parquet for local files, else
    an Arrow dataset on the table's own filesystem, registered on ``con`` as ``name``."""
    if all(f.startswith(("file://", "/")) for f in files):
        listed = ", ".join(_quote(f.removeprefix("file://")) for f in files)
        # hive_partitioning off: the day folders (exchange_ts_day=...) are not a column.
        return f"read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
    import pyarrow.dataset as ds
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = table.io
    if not isinstance(io, PyArrowFileIO):
        raise TypeError(f"lake table {table.name()[-1]}: no pyarrow filesystem for {files[0]}")
    scheme, _, rest = files[0].partition("://")
    filesystem = io.fs_by_scheme(scheme, rest.split("/", 1)[0])  # type: ignore[attr-defined,unused-ignore]
    keys = [f.partition("://")[2] for f in files]
    con.register(name, ds.dataset(keys, filesystem=filesystem, format="parquet"))
    return name
