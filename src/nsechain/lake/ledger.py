"""This collector's journal of lake batches: which processed tick files the lake holds.

Where it sits: under ``lake.writer``, over ``store.files`` (atomic saves). Layout, under
``<data_dir>/lake/``:

    open/<batch>.json     a batch decided but not known committed: {"batch", "files"}
    done/<batch>.json     the same file, renamed once both tables hold the batch

The journal is written (atomically) before any file is staged, so after a crash the writer
finishes exactly the batch it had started, under the same id; the lake's snapshot summaries
say whether that id is already committed. Files are named relative to ``processed_dir``
(``YYYYMMDD/tick_….parquet``).

A done journal never changes once renamed, so a ``Ledger`` reads each one once and remembers
its files: a pass lists ``done/`` and opens only journals it has not seen (another process,
``nsechain lake commit`` beside a collector, may add some; one removed by hand is forgotten).
A collector commits every few minutes for months, tens of thousands of journals: re-reading
them all on every pass (three times, with retention) grew without bound. ``reads`` and
``bytes_read`` count what was opened (``bench/bench_ledger.py``).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from nsechain.store.files import fsync_dir, save_atomic

__all__ = ["Batch", "Ledger"]


@dataclass(frozen=True)
class Batch:
    batch_id: str
    files: tuple[str, ...]  # relative to processed_dir


class Ledger:
    def __init__(self, root: Path) -> None:
        self.open_dir = root / "open"
        self.done_dir = root / "done"
        self._done: dict[str, tuple[str, ...]] = {}  # done journal's name -> its files
        self._files: set[str] = set()  # every file of ``_done``
        self.reads = self.bytes_read = 0  # journal files opened, and their bytes

    def _read(self, path: Path) -> Batch:
        raw = path.read_bytes()
        self.reads += 1
        self.bytes_read += len(raw)
        doc = json.loads(raw)
        return Batch(str(doc["batch"]), tuple(str(f) for f in doc["files"]))

    def open_batches(self) -> list[Batch]:
        """Batches started and not yet known committed, oldest first (ids sort by time)."""
        if not self.open_dir.is_dir():
            return []
        return [self._read(p) for p in sorted(self.open_dir.glob("*.json"))]

    def committed(self) -> set[str]:
        """Every file a finished batch holds (a copy: callers may add to it)."""
        names = self._done_names()
        gone = self._done.keys() - names
        for name in gone:  # removed by hand: forget it
            del self._done[name]
        if gone:
            self._files = {f for files in self._done.values() for f in files}
        for name in sorted(names - self._done.keys()):
            self._remember(name, self._read(self.done_dir / name).files)
        return set(self._files)

    def _done_names(self) -> set[str]:
        try:
            with os.scandir(self.done_dir) as entries:
                return {e.name for e in entries if e.name.endswith(".json")}
        except FileNotFoundError:
            return set()

    def _remember(self, name: str, files: tuple[str, ...]) -> None:
        self._done[name] = files
        self._files.update(files)

    def done_count(self) -> int:
        return len(self._done_names())

    def start(self, files: list[str], stamp: str) -> Batch:
        """Journal a new batch. ``stamp`` (e.g. 20261125T101500) makes ids sort by time."""
        batch = Batch(f"{stamp}-{secrets.token_hex(6)}", tuple(files))
        self.open_dir.mkdir(parents=True, exist_ok=True)
        body = {"batch": batch.batch_id, "files": list(batch.files)}
        save_atomic(self.open_dir / f"{batch.batch_id}.json", json.dumps(body).encode())
        return batch

    def finish(self, batch: Batch) -> None:
        """Mark ``batch`` committed: one rename from open/ to done/."""
        self.done_dir.mkdir(parents=True, exist_ok=True)
        name = f"{batch.batch_id}.json"
        (self.open_dir / name).replace(self.done_dir / name)
        fsync_dir(self.done_dir)
        fsync_dir(self.open_dir)
        self._remember(name, batch.files)  # known: never read back
