"""A tiny atomic file write for the market caches (holidays per year, the universe).

Where it sits: used only by ``market.holidays`` and ``market.universe`` to save their small JSON
caches. The store package has its own writer for Parquet; this one exists so that ``market``
does not depend on it. Callers that want the store's writer pass it in as ``write=``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["AtomicWrite", "atomic_write_bytes"]

#: Same prefix as the store's temp files, so one sweep of stale temp files recognises both.
TEMP_PREFIX = ".tmp-"

#: Signature of a writer: put ``data`` at ``path`` so that readers see the old or the new file.
AtomicWrite = Callable[[Path, bytes], None]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: temp file, fsync, rename, fsync the directory.

    A crash leaves either the previous file or the new one, never a torn cache.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(4)}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk; Windows has no dir fds.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
