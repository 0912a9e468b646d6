"""Lake maintenance that pyiceberg does not do for us: compaction and orphan-file removal
(plus snapshot expiry, which it does, with our retention).

Where it sits: beside ``lake.writer``, over ``lake.tables``; ``nsechain lake compact|expire|
orphans`` call it. Time comes in as an argument (the CLI passes the wall clock).

- **Compaction** of one day: read the day's rows, sort them by ``SORT_KEYS``, and replace the
  day's files with the sorted rows in one commit (``overwrite`` with the day's filter). A writer
  committing to that day meanwhile makes the commit fail, and the whole read-sort-write starts
  again (pyiceberg's own retry is off, see ``lake.tables``): no row is lost or doubled. The
  commit's summary must show as many rows added as deleted, or it is refused.
- **Expiry**: snapshots older than ``lake_snapshot_retention_s``; branch heads always stay.
- **Orphans**: files under the table's ``data/`` and ``metadata/`` that no live snapshot
  references (data files, manifests, manifest lists) and no metadata log names, and older than
  ``lake_orphan_grace_s`` (a writer stages files before it commits them). Metadata JSON files
  are never deleted here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from nsechain.config import Settings
from nsechain.lake.tables import (
    SORT_KEYS,
    TABLES,
    LakeError,
    commit_with_retry,
    open_catalog,
    open_table,
)

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = ["compact_day", "compact_days", "expire_snapshots", "referenced_files", "remove_orphans"]

log = logging.getLogger(__name__)
COMPACT_KEY = "nsechain.compacted-day"


def _day_filter(column: str, day: date) -> str:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return f"{column} >= '{start.isoformat()}' AND {column} < '{end.isoformat()}'"


def day_files(table: Table) -> dict[date, int]:
    """Data files per partition day of the current snapshot."""
    counts: dict[date, int] = {}
    if table.current_snapshot() is None:
        return counts
    files = table.inspect.files().column("partition").to_pylist()
    for part in files:
        day = next(iter(part.values()))
        counts[day] = counts.get(day, 0) + 1
    return counts


def compact_day(table: Table, day: date, deadline_s: float) -> tuple[int, int]:
    """Rewrite ``day`` of ``table`` sorted, in one atomic overwrite; (files before, rows)."""
    column = next(t.day_column for t in TABLES.values() if t.name == table.name()[-1])
    where = _day_filter(column, day)
    result: list[tuple[int, int]] = []

    def attempt() -> None:
        table.refresh()
        before = day_files(table).get(day, 0)
        rows = table.scan(row_filter=where).to_arrow()
        keys = [k for k in SORT_KEYS if k in rows.column_names]
        table.overwrite(
            rows.sort_by([(k, "ascending") for k in keys]),
            overwrite_filter=where,
            snapshot_properties={COMPACT_KEY: day.isoformat()},
        )
        result.append((before, rows.num_rows))

    commit_with_retry(attempt, deadline_s, f"compact {table.name()[-1]} {day}")
    _check_rows_kept(table, day)
    return result[-1]


def _check_rows_kept(table: Table, day: date) -> None:
    """The compaction's snapshots (a delete and an append, one commit) kept the row count."""
    added = deleted = 0
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.summary is not None:
        if snapshot.summary.get(COMPACT_KEY) != day.isoformat():
            break
        added += int(snapshot.summary.get("added-records") or 0)
        deleted += int(snapshot.summary.get("deleted-records") or 0)
        parent = snapshot.parent_snapshot_id
        snapshot = None if parent is None else table.snapshot_by_id(parent)
    if added != deleted:  # cannot happen with a CAS commit; says so loudly if it ever does
        raise LakeError(f"compaction of {day} added {added} rows but deleted {deleted}")


def compact_days(settings: Settings, today: date, only: date | None = None) -> Iterator[str]:
    """Compact ``only``, or every day before ``today`` held in more than one file."""
    with open_catalog(settings) as catalog:
        for kind in TABLES:
            table = open_table(catalog, settings.lake_namespace, kind)
            counts = day_files(table)
            days = [only] if only else sorted(d for d, n in counts.items() if d < today and n > 1)
            for day in days:
                files, rows = compact_day(table, day, settings.lake_commit_deadline_s)
                # pyiceberg splits a big day at write.target-file-size-bytes (512 MB in memory)
                after = day_files(table).get(day, 0)
                log.info(
                    "lake_compact table=%s day=%s files=%d->%d rows=%d",
                    kind,
                    day,
                    files,
                    after,
                    rows,
                )
                yield f"compacted {kind} {day}: files={files}->{after} rows={rows}"


def expire_snapshots(settings: Settings, now: datetime) -> str:
    with open_catalog(settings) as catalog:
        return _expire(catalog, settings, now)


def _expire(catalog: Catalog, settings: Settings, now: datetime) -> str:
    cutoff = now - timedelta(seconds=settings.lake_snapshot_retention_s)
    parts = []
    for kind in TABLES:
        table = open_table(catalog, settings.lake_namespace, kind)

        def attempt(table: Table = table) -> int:
            table.refresh()
            before = len(table.metadata.snapshots)
            table.maintenance.expire_snapshots().older_than(cutoff).commit()
            return before - len(table.metadata.snapshots)

        gone = commit_with_retry(attempt, settings.lake_commit_deadline_s, f"expire {kind}")
        parts.append(f"{kind}_expired={gone}")
    return " ".join(parts)


def _key(path: str) -> str:
    """A location without its scheme, as a filesystem listing names it."""
    parsed = urlparse(path)
    return f"{parsed.netloc}{parsed.path}" if parsed.scheme == "s3" else parsed.path or path


def referenced_files(table: Table) -> set[str]:
    """Every file a live snapshot needs (data, manifests, manifest lists) or metadata names."""
    io = table.io
    found = {_key(table.metadata_location)}
    found.update(_key(entry.metadata_file) for entry in table.metadata.metadata_log)
    for snapshot in table.metadata.snapshots:
        found.add(_key(snapshot.manifest_list))
        for manifest in snapshot.manifests(io):
            found.add(_key(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
                found.add(_key(entry.data_file.file_path))
    return found


def _listing(table: Table) -> list[tuple[str, datetime]]:
    from pyarrow import fs as pafs

    root = table.location().rstrip("/")
    parsed = urlparse(root)
    filesystem = table.io.fs_by_scheme(parsed.scheme, parsed.netloc)  # type: ignore[attr-defined,unused-ignore]
    out = []
    for sub in ("data", "metadata"):
        selector = pafs.FileSelector(f"{_key(root)}/{sub}", recursive=True, allow_not_found=True)
        for info in filesystem.get_file_info(selector):
            if info.type == pafs.FileType.File and not info.path.endswith(".metadata.json"):
                out.append((info.path, info.mtime))
    return out


def remove_orphans(settings: Settings, now: datetime, *, dry_run: bool = False) -> str:
    with open_catalog(settings) as catalog:
        return _remove_orphans(catalog, settings, now, dry_run)


def _remove_orphans(catalog: Catalog, settings: Settings, now: datetime, dry_run: bool) -> str:
    cutoff = now - timedelta(seconds=settings.lake_orphan_grace_s)
    parts = []
    for kind in TABLES:
        table = open_table(catalog, settings.lake_namespace, kind)
        keep = referenced_files(table)
        root = urlparse(table.location())
        doomed = [
            path
            for path, mtime in _listing(table)
            if path not in keep and mtime.astimezone(UTC) < cutoff
        ]
        for path in doomed:
            where = f"{root.scheme}://{path}" if root.scheme == "s3" else f"file://{path}"
            log.info("lake_orphan table=%s path=%s deleted=%s", kind, where, not dry_run)
            if not dry_run:
                table.io.delete(where)
        parts.append(f"{kind}_orphans={len(doomed)}")
    return " ".join(parts) + (" (dry run: nothing deleted)" if dry_run else "")
