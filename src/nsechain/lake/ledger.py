"""This collector's journal of lake batches: which processed tick files the lake holds.

Where it sits: under ``lake.writer``, over ``store.files`` (atomic saves). Layout, under
``<data_dir>/lake/``:

    open/<batch>.json     a batch decided but not known committed: {"batch", "files"}
    done/<batch>.json     the same file, renamed once both tables hold the batch

The journal is written (atomically) before any file is staged, so after a crash the writer
finishes exactly the batch it had started, under the same id; the lake's snapshot summaries
say whether that id is already committed. Files are named relative to ``processed_dir``
(``YYYYMMDD/tick_….parquet``).
"""

from __future__ import annotations

import json
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

    def _read(self, path: Path) -> Batch:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Batch(str(doc["batch"]), tuple(str(f) for f in doc["files"]))

    def open_batches(self) -> list[Batch]:
        """Batches started and not yet known committed, oldest first (ids sort by time)."""
        if not self.open_dir.is_dir():
            return []
        return [self._read(p) for p in sorted(self.open_dir.glob("*.json"))]

    def committed(self) -> set[str]:
        """Every file a finished batch holds."""
        if not self.done_dir.is_dir():
            return set()
        return {f for p in self.done_dir.glob("*.json") for f in self._read(p).files}

    def done_count(self) -> int:
        return len(list(self.done_dir.glob("*.json"))) if self.done_dir.is_dir() else 0

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
