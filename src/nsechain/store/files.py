"""Durable files: atomic saves, the one-file-per-tick Parquet writer and reader, quarantine.

Where it sits: the collector calls ``write_tick`` once per tick and ``quarantine_body`` for bodies
the parser rejects; the status writer uses ``save_atomic``; ``store.loader`` reads tick files
back with ``read_tick_info`` and moves them with ``move_file`` / ``quarantine_file``.

A tick file is a Parquet file whose rows are the tick's quotes (``QUOTES_SCHEMA``, zstd). The
tick's fetch log and its snapshot list (each snapshot with its row count and CE/PE totals,
``SNAPSHOTS_SCHEMA``) travel in the Parquet key-value metadata as Arrow IPC streams, with a
small JSON header, so quotes and fetch log are written by one rename and can never be half
there. Every write is: temp file in the same folder, fsync, ``os.replace``, fsync
of the folder. A final name therefore always holds a complete file.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import ipc

from nsechain.contract import (
    FETCH_LOG_SCHEMA,
    FETCH_LOG_V1_SCHEMA,
    QUOTES_SCHEMA,
    SNAPSHOT_KEY,
    SNAPSHOTS_SCHEMA,
    SNAPSHOTS_V1_SCHEMA,
)
from nsechain.errors import CorruptFile, StorageError
from nsechain.store import paths
from nsechain.store.crashpoints import pause_point  # crash-test hook; inert unless env asks
from nsechain.timeutil import now_ist

__all__ = [
    "FORMAT_VERSION",
    "META_FETCH_LOG",
    "META_SNAPSHOTS",
    "META_TICK",
    "SNAPSHOT_INPUTS",
    "TickInfo",
    "fsync_dir",
    "move_file",
    "quarantine_body",
    "quarantine_file",
    "read_tick_fetch_log",
    "read_tick_info",
    "save_atomic",
    "snapshots_of",
    "sweep_temp_files",
    "write_tick",
]

log = logging.getLogger(__name__)

#: 2: the snapshot list carries per-snapshot totals (``SNAPSHOT_TOTALS``). Files of format 1
#: still load: their totals are computed from the quotes when they are read.
FORMAT_VERSION = 2
META_TICK = "nsechain.tick"
META_FETCH_LOG = "nsechain.fetch_log"
#: The distinct snapshots of the quotes, computed at write time so the loader can deduplicate
#: without scanning quote data, and can store each snapshot's totals without summing quotes.
META_SNAPSHOTS = "nsechain.snapshots"

#: The quote columns ``snapshots_of`` reads.
SNAPSHOT_INPUTS: tuple[str, ...] = (
    *SNAPSHOT_KEY,
    "option_type",
    "open_interest",
    "volume",
    "underlying_value",
)
_IPC_OPTIONS = ipc.IpcWriteOptions(compression="zstd")


# --- atomic writes -----------------------------------------------------------------------------


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its renames are journaled anyway.
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Temp files this process is filling now. The loader's periodic sweep spares them whatever
#: their age says: an mtime is the file system's clock, ``time.time()`` is ours, and the two
#: can disagree by a year (libfaketime, a corrected clock, a network mount), which once made
#: the sweep delete a tick file while the collection thread was writing it.
_writing: set[str] = set()  # names: unique (paths.temp_name), whatever form the folder has
_writing_lock = threading.Lock()


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """Yield a temp file beside ``path``; on clean exit it becomes ``path`` durably.

    On any error the temp file is removed and nothing appears under ``path``; OSError (disk
    full, read-only, permissions) becomes StorageError naming ``path``.
    """
    tmp = path.with_name(paths.temp_name(path.name))
    with _writing_lock:
        _writing.add(tmp.name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("xb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"cannot write ({exc.strerror or exc})", path=path) from exc
    finally:
        # On a read-only disk even removing a missing file fails (EROFS): that must not hide
        # the StorageError above. A temp file that stays is swept at the next start.
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        with _writing_lock:
            _writing.discard(tmp.name)


def save_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: readers see the old or the new file, never half."""
    with _atomic_file(path) as fh:
        fh.write(data)


# --- tick files ----------------------------------------------------------------------------------


def _describe(f: pa.Field | None) -> str:
    return "missing" if f is None else f"{f.type}{'' if f.nullable else ' not null'}"


def _schema_diff(schema: pa.Schema, expected: pa.Schema) -> str | None:
    """None if equal (metadata aside), else a one-line account of the differences."""
    if schema.equals(expected, check_metadata=False):
        return None
    got: dict[str, pa.Field] = {f.name: f for f in schema}
    diff = [
        f"{f.name}: want {_describe(f)}, got {_describe(got.get(f.name))}"
        for f in expected
        if f.name not in got or not got[f.name].equals(f)
    ]
    diff += [f"{name}: unexpected" for name in got if name not in expected.names]
    return "; ".join(diff) or "column order differs"


def _check_schema(table: pa.Table, expected: pa.Schema, what: str) -> None:
    diff = _schema_diff(table.schema, expected)
    if diff is not None:
        raise ValueError(f"{what} table does not match its schema: {diff}")


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _ipc_table(data: bytes) -> pa.Table:
    with ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def snapshots_of(quotes: pa.Table) -> pa.Table:
    """The distinct (symbol, expiry, exchange_ts) of ``quotes`` with their row counts and
    totals (``SNAPSHOTS_SCHEMA``), sorted by the key. ``quotes`` needs the ``SNAPSHOT_INPUTS``
    columns only. One vectorised Arrow group-by: ~5 ms for a full-market tick of 55k rows."""
    keys = list(SNAPSHOT_KEY)
    side = quotes["option_type"]
    ce, pe = pc.equal(side, "CE"), pc.equal(side, "PE")
    oi, volume = quotes["open_interest"], quotes["volume"]
    no_oi, no_volume = pa.scalar(None, oi.type), pa.scalar(None, volume.type)
    legs = pa.table(
        {
            **{k: quotes[k] for k in keys},
            "underlying_value": quotes["underlying_value"],
            "ce_oi": pc.if_else(ce, oi, no_oi),
            "pe_oi": pc.if_else(pe, oi, no_oi),
            "ce_volume": pc.if_else(ce, volume, no_volume),
            "pe_volume": pc.if_else(pe, volume, no_volume),
        }
    )
    zero_if_empty = pc.ScalarAggregateOptions(skip_nulls=True, min_count=0)
    sums = [(c, "sum", zero_if_empty) for c in ("ce_oi", "pe_oi", "ce_volume", "pe_volume")]
    agg = legs.group_by(keys).aggregate([([], "count_all"), ("underlying_value", "max"), *sums])
    columns = [
        *(agg[k] for k in keys),
        agg["count_all"],
        agg["underlying_value_max"],
        *(agg[f"{c}_sum"] for c, _, _ in sums),
    ]
    table = pa.table(columns, schema=SNAPSHOTS_SCHEMA)
    return table.sort_by([(k, "ascending") for k in keys])


def _tick_metadata(tick_at: datetime, quotes: pa.Table, fetch_log: pa.Table) -> dict[str, bytes]:
    snapshots = snapshots_of(quotes)
    header = {
        "format": FORMAT_VERSION,
        "tick_at": tick_at.isoformat(),
        "quote_rows": quotes.num_rows,
        "fetch_rows": fetch_log.num_rows,
        "snapshots": snapshots.num_rows,
        "written_at": now_ist().isoformat(),
    }
    return {
        META_TICK: json.dumps(header, separators=(",", ":")).encode(),
        META_FETCH_LOG: _ipc_bytes(fetch_log),
        META_SNAPSHOTS: _ipc_bytes(snapshots),
    }


def _write_parquet(sink: IO[bytes], quotes: pa.Table, metadata: dict[str, bytes]) -> None:
    # The key-value pairs go in the footer directly (not the Arrow schema metadata), so they are
    # stored once and the quotes' Arrow schema stays exactly QUOTES_SCHEMA.
    with pq.ParquetWriter(sink, QUOTES_SCHEMA, compression="zstd") as writer:
        writer.write_table(quotes)
        pause_point("write")  # the crash harness kills here: temp file half written, no footer
        writer.add_key_value_metadata(metadata)


def write_tick(pending_dir: Path, tick_at: datetime, quotes: pa.Table, fetch_log: pa.Table) -> Path:
    """Write one tick (quotes + its fetch log) as ``pending_dir/YYYYMMDD/tick_….parquet``.

    Raises ValueError if a table does not match its schema (a bug upstream), StorageError if the
    disk refuses the write; in both cases no file appears under a final name.
    """
    _check_schema(quotes, QUOTES_SCHEMA, "quotes")
    _check_schema(fetch_log, FETCH_LOG_SCHEMA, "fetch_log")
    path = paths.day_folder(pending_dir, tick_at) / paths.tick_file_name(tick_at)
    metadata = _tick_metadata(tick_at, quotes, fetch_log)
    with _atomic_file(path) as fh:
        _write_parquet(fh, quotes, metadata)
    return path


@dataclass(frozen=True)
class TickInfo:
    """What the loader needs from a tick file, read from its footer alone."""

    path: Path
    quote_rows: int
    fetch_log: pa.Table  # FETCH_LOG_SCHEMA
    snapshots: pa.Table  # SNAPSHOTS_SCHEMA
    header: dict[str, Any]


def _meta_table(
    kv: dict[bytes, bytes], key: str, schema: pa.Schema, *, older: pa.Schema | None = None
) -> pa.Table | None:
    """The IPC table stored under ``key``; None if absent or in the ``older`` schema."""
    raw = kv.get(key.encode())
    if raw is None:
        return None
    table = _ipc_table(raw)
    if table.schema.equals(schema, check_metadata=False):
        return table
    if older is not None and table.schema.equals(older, check_metadata=False):
        return None
    raise ValueError(f"metadata {key} has schema {table.schema}, want {schema}")


def _fetch_log(kv: dict[bytes, bytes]) -> pa.Table | None:
    """The tick's fetch log; one written before routes gets a null ``route`` column."""
    try:
        return _meta_table(kv, META_FETCH_LOG, FETCH_LOG_SCHEMA)
    except ValueError:
        old = _meta_table(kv, META_FETCH_LOG, FETCH_LOG_V1_SCHEMA)
        assert old is not None  # the key is there: the first read found it
        return old.append_column("route", pa.nulls(old.num_rows, pa.string()))


def read_tick_info(path: Path) -> TickInfo:
    """Footer of a tick file: row count, fetch log, snapshots. CorruptFile if it is unusable.

    Files without nsechain metadata (imported from elsewhere) still load: their fetch log is
    empty and their snapshots are computed from the quote columns. So are the snapshots of
    format-1 files, whose list lacks the totals (a read of ``SNAPSHOT_INPUTS``, ~5 ms a tick).
    """
    try:
        with pq.ParquetFile(path) as pf:
            diff = _schema_diff(pf.schema_arrow, QUOTES_SCHEMA)
            if diff is not None:
                raise CorruptFile(f"schema differs from QUOTES_SCHEMA: {diff}", path=path)
            kv = pf.metadata.metadata or {}
            fetch_log = _fetch_log(kv)
            snapshots = _meta_table(kv, META_SNAPSHOTS, SNAPSHOTS_SCHEMA, older=SNAPSHOTS_V1_SCHEMA)
            if snapshots is None:
                snapshots = snapshots_of(pf.read(columns=list(SNAPSHOT_INPUTS)))
            header = json.loads(kv.get(META_TICK.encode(), b"{}"))
            rows = pf.metadata.num_rows
    except (CorruptFile, FileNotFoundError):
        raise  # a vanished file is not a corrupt one: the caller skips it
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CorruptFile(f"unreadable tick file: {exc}", path=path) from exc
    return TickInfo(
        path=path,
        quote_rows=rows,
        fetch_log=fetch_log if fetch_log is not None else FETCH_LOG_SCHEMA.empty_table(),
        snapshots=snapshots,
        header=header if isinstance(header, dict) else {},
    )


def read_tick_fetch_log(path: Path) -> pa.Table:
    """The fetch_log rows stored in a tick file's metadata (FETCH_LOG_SCHEMA)."""
    return read_tick_info(path).fetch_log


# --- moving, quarantine, sweeping ----------------------------------------------------------------


def move_file(src: Path, dest_dir: Path) -> Path:
    """Move ``src`` into ``dest_dir`` (same name). Atomic on one filesystem; across filesystems
    it copies to a temp name, fsyncs, renames, then removes ``src``. Callers fsync the folders.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    try:
        src.replace(dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with _atomic_file(dest) as fh, src.open("rb") as source:
            shutil.copyfileobj(source, fh)
        src.unlink()
    return dest


def _iso(value: date | datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def _write_reason(target: Path, reason: str, **fields: Any) -> None:
    record = {"reason": reason, **fields, "quarantined_at": now_ist().isoformat()}
    sidecar = target.with_name(target.name + ".reason.json")
    save_atomic(sidecar, json.dumps(record, indent=2, ensure_ascii=False).encode())


def _safe(text: str) -> str:
    # Symbols like M&M or BAJAJ-AUTO must not produce odd file names.
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "unknown"


def quarantine_body(
    quarantine_dir: Path,
    *,
    body: bytes,
    reason: str,
    symbol: str | None,
    expiry: date | str | None,
    fetched_at: datetime | None,
) -> Path:
    """Keep a body the parser rejected, with a ``.reason.json`` sidecar; returns its path."""
    moment = fetched_at or now_ist()
    stamp = paths.tick_file_name(moment)[len("tick_") : -len(paths.TICK_SUFFIX)]
    target = paths.day_folder(quarantine_dir, moment) / f"body_{stamp}_{_safe(symbol or '')}.bin"
    save_atomic(target, body)
    _write_reason(
        target,
        reason,
        symbol=symbol,
        expiry=_iso(expiry),
        fetched_at=_iso(moment),
        source=None,
        bytes=len(body),
    )
    log.warning("quarantine body=%s symbol=%s reason=%r", target.name, symbol, reason)
    return target


def quarantine_file(quarantine_dir: Path, path: Path, reason: str) -> Path:
    """Move an unusable file into quarantine (never delete it), reason sidecar first."""
    tick_at = paths.tick_time_of_name(path.name)
    target_dir = paths.day_folder(quarantine_dir, tick_at or now_ist())
    try:
        # Sidecar before the move: a crash in between leaves the file pending, to be retried.
        _write_reason(
            target_dir / path.name,
            reason,
            symbol=None,
            expiry=None,
            fetched_at=_iso(tick_at),
            source=str(path),
        )
        target = move_file(path, target_dir)
        fsync_dir(target_dir)
        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError(f"cannot quarantine ({exc.strerror or exc})", path=path) from exc
    log.warning("quarantine file=%s reason=%r", path.name, reason)
    return target


def sweep_temp_files(
    root: Path,
    *,
    min_age_s: float = 0.0,
    clock: Callable[[], float] = time.time,
    tree: bool = False,
) -> list[Path]:
    """Remove temp files left by a crashed writer under ``root`` (and its day folders; with
    ``tree``, in every folder below it: the whole data dir at start-up).

    A temp file this process is writing is never removed. ``min_age_s`` spares temp files
    touched recently, for a writer in another process. At start-up sweep with 0.
    """
    removed: list[Path] = []
    now = clock()
    found = paths.list_temp_files_tree(root) if tree else paths.list_temp_files(root)
    with _writing_lock:
        busy = set(_writing)
    for tmp in found:
        if tmp.name in busy:
            continue
        try:
            # At start (no grace) age is not asked at all: an mtime from a clock that disagrees
            # with ours (another host, a faked or corrected clock) must not spare a leftover.
            if min_age_s > 0 and now - tmp.stat().st_mtime < min_age_s:
                continue
            tmp.unlink()
        except FileNotFoundError:  # its writer finished or removed it meanwhile
            continue
        removed.append(tmp)
    if removed:
        log.info("sweep temp_files=%d root=%s", len(removed), root)
    return removed
