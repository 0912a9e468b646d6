"""Lake maintenance besides compaction (``lake.compact``): snapshot expiry, with our
retention, and orphan-file removal, which pyiceberg does not do for us.

Where it sits: beside ``lake.writer``, over ``lake.tables``; ``nsechain lake expire|orphans``
call it. Time comes in as an argument (the CLI passes the wall clock).

- **Expiry**: snapshots older than ``lake_snapshot_retention_s``; branch heads always stay.
- **Orphans**: files under the table's ``data/`` and ``metadata/`` that no live snapshot
  references (data files, manifests, manifest lists) and no metadata log names, and older than
  ``lake_orphan_grace_s`` (a writer stages files before it commits them). Metadata JSON files
  are never deleted here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from nsechain.config import Settings
from nsechain.lake.tables import TABLES, commit_with_retry, open_catalog, open_table

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

__all__ = ["expire_snapshots", "referenced_files", "remove_orphans"]

log = logging.getLogger(__name__)


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
            # A DELETED entry names a file its snapshot removed: the parent snapshot lists it
            # live while it is kept, so only a file no kept snapshot reads is left out (as
            # Iceberg's own orphan removal counts only live entries).
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
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
