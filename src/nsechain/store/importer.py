"""``nsechain import``: captured chains (JSON files, folders, .gz, .zip, our raw files) → the
normal pipeline: parse (``nse.parse``), tick files (``store.files``), exactly-once load
(``store.loader``).

Where it sits: above ``nse`` and beside the loader; the CLI (``cli.history``) calls
``import_paths``, ``store.reprocess`` reuses ``Importer`` for one day of raw files.

Rules, in the order they apply:

* **Inputs** are walked in sorted path order (folders recursively, zip members by name), so
  every choice below is the same on every run.
* **Symbol**: our raw files carry it; a JSON capture names it in its legs (``underlying``),
  else the ``--symbol`` flag, else the file name (``nse.captures.symbol_from_name``).
* **Times**: a raw body keeps the ``fetched_at`` it was received at; a foreign capture has
  none, so its ``fetched_at`` is its exchange timestamp (an import of the same file twice
  gives the same rows).
* **Duplicates and conflicts** are judged per snapshot (symbol, expiry, exchange_ts), on the
  rows without ``fetched_at``. The same snapshot with the same rows: a duplicate, skipped. With
  different rows: a conflict, reported with both sources. **The first one wins**: the one
  already in the database, else the first in path order (the same rule as the loader's
  "oldest file keeps it"; for raw files that is the first received, as the live collector
  kept it). Against the database the comparison uses the stored per-snapshot totals (rows,
  spot, CE/PE OI and volume), not every value.
* A file that is not a chain is listed with the reason; the rest goes on.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc

from nsechain.contract import FETCH_LOG_SCHEMA, SNAPSHOT_KEY
from nsechain.errors import CorruptFile, NsechainError
from nsechain.nse.captures import capture_problem, symbol_of
from nsechain.nse.parse import parse_chain
from nsechain.store.files import snapshots_of, write_tick
from nsechain.store.rawcapture import is_raw_file, read_raw
from nsechain.timeutil import IST

__all__ = ["Conflict", "ImportReport", "Importer", "Rejected", "walk"]

log = logging.getLogger(__name__)

#: Rows buffered per day before a tick file is written: bounds memory on big imports.
CHUNK_ROWS = 500_000
_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=IST)  # replaced by exchange_ts after parsing
_Key = tuple[str, date, datetime]


@dataclass(frozen=True)
class Rejected:
    source: str
    reason: str


@dataclass(frozen=True)
class Conflict:
    symbol: str
    expiry: date
    exchange_ts: datetime
    kept: str  # the source whose rows stay
    dropped: str

    def __str__(self) -> str:
        return (
            f"{self.symbol} {self.expiry} {self.exchange_ts:%Y-%m-%d %H:%M:%S}: "
            f"kept {self.kept}, dropped {self.dropped} (same snapshot, different rows)"
        )


@dataclass
class ImportReport:
    files: int = 0  # input files read (a zip member and a raw file count one each)
    bodies: int = 0  # chain bodies parsed (a raw file holds many)
    snapshots: int = 0  # new snapshots loaded
    rows: int = 0  # quote rows loaded
    duplicates: int = 0  # snapshots skipped: identical to one seen or already loaded
    conflicts: list[Conflict] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    tick_files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Body:
    source: str
    body: bytes
    symbol: str | None
    expiry: date | None = None  # the expiry asked for (raw bodies only)
    fetched_at: datetime | None = None  # raw bodies only


def _digest(table: pa.Table) -> bytes:
    """A fingerprint of a snapshot's rows, ``fetched_at`` aside, independent of row order."""
    rows = table.drop_columns(["fetched_at"]).sort_by(
        [("strike", "ascending"), ("option_type", "ascending")]
    )
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows.combine_chunks())
    return hashlib.blake2b(sink.getvalue().to_pybytes(), digest_size=16).digest()


def _open_bodies(path: Path, name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(source name, JSON bytes) of one file: itself, its gunzipped bytes, or zip members."""
    if name.endswith(".gz"):
        yield name, gzip.decompress(data)
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for member in sorted(archive.namelist()):
                if not member.endswith("/"):
                    inner = archive.read(member)
                    yield from _open_bodies(path, f"{name}!{member}", inner)
    else:
        yield name, data


def walk(paths: list[Path]) -> Iterator[Path]:
    for root in sorted(paths):
        if root.is_dir():
            yield from sorted(
                p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield root


class Importer:
    """Parses captures, keeps the first of each snapshot, writes tick files per day."""

    def __init__(
        self,
        pending_dir: Path,
        *,
        symbol: str | None = None,
        on_file: Callable[[str], None] | None = None,
    ) -> None:
        self.pending_dir = pending_dir
        self.symbol = symbol.strip().upper() if symbol else None
        self.report = ImportReport()
        self._on_file = on_file
        self._seen: dict[_Key, tuple[bytes, str]] = {}
        self._buffer: dict[date, list[pa.Table]] = {}
        self._buffered: dict[date, int] = {}
        self.kept: list[pa.Table] = []  # per-file snapshot lists (SNAPSHOTS_SCHEMA + source)

    # --- inputs -------------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> None:
        for path in walk(paths):
            self.add_file(path)

    def add_file(self, path: Path) -> None:
        self.report.files += 1
        if self._on_file is not None:
            self._on_file(str(path))
        try:
            if is_raw_file(path) or path.suffix == ".parquet":
                for i, raw in enumerate(read_raw(path)):
                    source = f"{path}#{i}"
                    self._add(_Body(source, raw.body, raw.symbol, raw.expiry, raw.fetched_at))
                return
            for source, data in _open_bodies(path, str(path), path.read_bytes()):
                self._add(_Body(source, data, symbol_of(data, source, self.symbol)))
        except CorruptFile as exc:
            self._reject(str(path), f"{exc.args[0]}; tick files load with `nsechain ingest`")
        except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
            self._reject(str(path), f"cannot read the file: {exc}")

    def _reject(self, source: str, reason: str) -> None:
        self.report.rejected.append(Rejected(source, reason))
        log.info("import rejected source=%s reason=%r", source, reason)

    # --- one body ---------------------------------------------------------------------------
    def _add(self, item: _Body) -> None:
        try:
            parsed = parse_chain(
                item.body,
                symbol=item.symbol or "UNKNOWN",  # a non-chain is rejected for what it is
                expiry=item.expiry,
                fetched_at=item.fetched_at or _PLACEHOLDER,
            )
        except NsechainError as exc:
            self._reject(item.source, f"not a usable chain: {exc}")
            return
        if item.symbol is None:
            self._reject(
                item.source,
                "a chain, but no symbol: the payload names none and no --symbol was given; "
                "pass --symbol or name the file like NIFTY_2025-07-17.json",
            )
            return
        problem = capture_problem(parsed)
        if problem is not None:
            self._reject(item.source, f"implausible for its own day: {problem}")
            return
        self.report.bodies += 1
        table = parsed.table
        if item.fetched_at is None:
            at = table.schema.get_field_index("fetched_at")
            table = table.set_column(at, table.schema.field(at), table["exchange_ts"])
        self._keep_new(table, item.source)

    def _keep_new(self, table: pa.Table, source: str) -> None:
        """Split into snapshots; keep those not seen, record duplicates and conflicts."""
        keep: list[pa.Table] = []
        for expiry in sorted(pc.unique(table["expiry"]).to_pylist()):
            snap = table.filter(pc.equal(table["expiry"], pa.scalar(expiry, pa.date32())))
            key: _Key = (snap["symbol"][0].as_py(), expiry, snap["exchange_ts"][0].as_py())
            digest = _digest(snap)
            first = self._seen.get(key)
            if first is None:
                self._seen[key] = (digest, source)
                keep.append(snap)
            elif first[0] == digest:
                self.report.duplicates += 1
            else:
                self._conflict(key, kept=first[1], dropped=source)
        if keep:
            self._buffer_rows(pa.concat_tables(keep), source)

    def _conflict(self, key: _Key, *, kept: str, dropped: str) -> None:
        conflict = Conflict(*key, kept=kept, dropped=dropped)
        self.report.conflicts.append(conflict)
        log.info("import conflict %s", conflict)

    def _buffer_rows(self, table: pa.Table, source: str) -> None:
        snaps = snapshots_of(table)
        self.kept.append(snaps.append_column("source", pa.array([source] * snaps.num_rows)))
        day = table["exchange_ts"][0].as_py().astimezone(IST).date()
        self._buffer.setdefault(day, []).append(table)
        self._buffered[day] = self._buffered.get(day, 0) + table.num_rows
        if self._buffered[day] >= CHUNK_ROWS:
            self._flush_day(day)

    # --- output -----------------------------------------------------------------------------
    def _flush_day(self, day: date) -> None:
        tables = self._buffer.pop(day, [])
        self._buffered.pop(day, None)
        if not tables:
            return
        quotes = pa.concat_tables(tables)
        tick_at = pc.max(quotes["exchange_ts"]).as_py()
        path = write_tick(self.pending_dir, tick_at, quotes, FETCH_LOG_SCHEMA.empty_table())
        self.report.tick_files.append(path)

    def finish(self) -> list[Path]:
        """Write what is buffered; returns every tick file this import wrote."""
        for day in sorted(self._buffer):
            self._flush_day(day)
        return self.report.tick_files

    def kept_snapshots(self) -> pa.Table:
        """Every snapshot this import kept, with its totals and source (for the database check)."""
        if not self.kept:
            return pa.table({k: pa.array([]) for k in (*SNAPSHOT_KEY, "source")})
        return pa.concat_tables(self.kept)
