"""Raw capture: every chain body the collector receives, kept as sent, one file per interval.

Where it sits: opt-in (``raw_capture = true``). The collector hands each chain body and its
request metadata to ``RawCapture.add`` (a hook, before parsing) and calls ``flush`` once per
interval, after writing its tick file. ``store.importer`` reads the files back
(``read_raw``) for ``nsechain import`` and ``nsechain reprocess``.

Layout, in the same YYYYMMDD day folders as the tick files (IST)::

    <data_dir>/raw/YYYYMMDD/raw_YYYYMMDDTHHMMSS_<8hex>.parquet

A raw file is Parquet (zstd) with one row per body: ``RAW_SCHEMA`` (symbol, expiry,
endpoint, fetched_at, HTTP status, body). Parquet rather than a home-made container: DuckDB,
polars or pyarrow read it as is (``SELECT symbol, length(body) FROM 'data/raw/*/*.parquet'``),
and zstd over a column of similar JSON bodies compresses them together. Written atomically
(``save_atomic``), so a final name always holds a complete file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from nsechain.contract import FETCH_LOG_SCHEMA
from nsechain.errors import CorruptFile, StorageError
from nsechain.store import paths
from nsechain.store.files import save_atomic

__all__ = [
    "RAW_PREFIX",
    "RAW_SCHEMA",
    "RawBody",
    "RawCapture",
    "is_raw_file",
    "list_raw_files",
    "read_raw",
    "write_raw",
]

log = logging.getLogger(__name__)

RAW_PREFIX = "raw_"
RAW_SCHEMA = pa.schema(
    [
        FETCH_LOG_SCHEMA.field("fetched_at"),
        FETCH_LOG_SCHEMA.field("symbol"),
        FETCH_LOG_SCHEMA.field("expiry"),
        FETCH_LOG_SCHEMA.field("endpoint"),
        FETCH_LOG_SCHEMA.field("http_status"),
        pa.field("body", pa.binary(), nullable=False),
    ]
)
#: zstd level; bench/bench_history.py prints the bytes and time per interval it gives.
ZSTD_LEVEL = 3
#: Bodies held in memory while the disk refuses raw writes; the oldest are dropped (and
#: counted) beyond this. About two intervals of a full-universe sweep.
MAX_HELD = 2000


@dataclass(frozen=True, slots=True)
class RawBody:
    """One received chain body and the request that brought it."""

    symbol: str | None
    expiry: date | None
    endpoint: str
    fetched_at: datetime
    http_status: int | None
    body: bytes


def is_raw_file(path: Path) -> bool:
    return path.name.startswith(RAW_PREFIX) and path.suffix == paths.TICK_SUFFIX


def raw_file_name(interval_at: datetime) -> str:
    # The tick file's name with another prefix: same stamp, same sort order.
    return RAW_PREFIX + paths.tick_file_name(interval_at)[len("tick_") :]


def write_raw(raw_dir: Path, interval_at: datetime, bodies: list[RawBody]) -> Path:
    """Write ``bodies`` as ``raw_dir/YYYYMMDD/raw_….parquet`` atomically; returns its path."""
    columns = {name: [getattr(b, name) for b in bodies] for name in RAW_SCHEMA.names}
    table = pa.table(columns, schema=RAW_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", compression_level=ZSTD_LEVEL)
    path = paths.day_folder(raw_dir, interval_at) / raw_file_name(interval_at)
    save_atomic(path, sink.getvalue().to_pybytes())
    return path


def read_raw(path: Path) -> Iterator[RawBody]:
    """The bodies of a raw file in the order they were received. CorruptFile if unreadable or
    not a raw file. Reads one row group at a time, so memory stays that of a few bodies."""
    try:
        with pq.ParquetFile(path) as pf:
            if not pf.schema_arrow.equals(RAW_SCHEMA, check_metadata=False):
                raise CorruptFile("a Parquet file that is not an nsechain raw capture", path=path)
            for i in range(pf.num_row_groups):
                for row in pf.read_row_group(i).to_pylist():
                    yield RawBody(**row)
    except (OSError, pa.ArrowException) as exc:
        raise CorruptFile(f"unreadable raw capture: {exc}", path=path) from exc


def list_raw_files(raw_dir: Path, day: date | None = None) -> list[Path]:
    """Raw files under ``raw_dir`` (one day's folder if ``day``), in interval order."""
    folders = [paths.day_folder(raw_dir, day)] if day else sorted(raw_dir.glob("[0-9]" * 8))
    found = [p for d in folders if d.is_dir() for p in d.iterdir() if is_raw_file(p)]
    return sorted(found, key=lambda p: p.name)


class RawCapture:
    """Collects bodies between flushes; thread-safe (several fetches may be in flight)."""

    def __init__(self, raw_dir: Path) -> None:
        self.raw_dir = raw_dir
        self._held: list[RawBody] = []
        self._lock = threading.Lock()
        self.files = 0
        self.bodies = 0
        self.bytes_written = 0
        self.dropped = 0

    def add(self, body: bytes, **meta: object) -> None:
        """The hook: one received chain body and its request metadata (``RawBody`` fields)."""
        item = RawBody(body=body, **meta)  # type: ignore[arg-type]
        with self._lock:
            self._held.append(item)
            if len(self._held) > MAX_HELD:
                self._held.pop(0)
                self.dropped += 1
                log.error("raw capture dropped=%d reason=disk_refuses_writes", self.dropped)

    def flush(self, interval_at: datetime) -> Path | None:
        """Write what came since the last flush as one file; None if nothing came. On a disk
        error the bodies are kept for the next flush and the error is logged, not raised."""
        with self._lock:
            bodies, self._held = self._held, []
        if not bodies:
            return None
        try:
            path = write_raw(self.raw_dir, interval_at, bodies)
        except StorageError as exc:
            with self._lock:
                self._held[:0] = bodies
                excess = max(0, len(self._held) - MAX_HELD)
                del self._held[:excess]
                self.dropped += excess
            log.error("raw capture write failed error=%r held=%d", str(exc), len(bodies))
            return None
        size = path.stat().st_size
        self.files += 1
        self.bodies += len(bodies)
        self.bytes_written += size
        log.debug("raw capture file=%s bodies=%d bytes=%d", path.name, len(bodies), size)
        return path
