"""Ticks the disk refused: held, spilled to another folder, or dropped — never silently.

Where it sits: under ``collector/tick.py``. ``Collector.flush`` hands every interval's file
here. When the data dir refuses writes (full, read-only) the interval is kept in memory and
retried at the next interval; with ``spill_dir`` set it is written there instead and moved back
to pending once the data dir takes writes again (the batch thread then loads it as usual), or
at the next start (``return_spilled``: a run that crashed or stopped with files still spilled).
Memory is bounded: beyond ``max_held`` intervals the oldest is dropped, and each drop is an
ERROR line with its time range, rows and fetches, counted in the status. A stop with intervals
still held says what it loses; ``lost`` tells the manager whether the run was clean.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from nsechain.errors import StorageError
from nsechain.store.files import fsync_dir, move_file, sweep_temp_files, write_tick
from nsechain.store.paths import list_tick_files
from nsechain.timeutil import iso

__all__ = ["MAX_HELD", "Backlog"]

log = logging.getLogger(__name__)

#: Intervals kept in memory while the disk refuses writes; beyond, the oldest is dropped.
MAX_HELD = 30
#: Dropped intervals remembered for the status (the counters count them all).
KEEP_RANGES = 10


@dataclass
class _Held:
    since: datetime | None  # the previous interval's end: what this file covers starts there
    at: datetime
    quotes: pa.Table
    fetch_log: pa.Table


class Backlog:
    """One writer at a time (the caller holds its write lock)."""

    def __init__(self, pending_dir: Path, spill_dir: Path | None, max_held: int = MAX_HELD):
        self.pending_dir = pending_dir
        self.spill_dir = spill_dir
        self.max_held = max_held
        self._held: deque[_Held] = deque()
        self._last_at: datetime | None = None
        self.rows_written = 0
        self.spilled = 0  # intervals written to spill_dir
        self.dropped = 0  # intervals lost
        self.rows_dropped = 0
        self.fetches_dropped = 0
        self.dropped_ranges: deque[dict[str, Any]] = deque(maxlen=KEEP_RANGES)
        self.last_error: str | None = None
        # Intervals the disk refused, as last counted by the writer. Not len(self._held): the
        # status thread reads this while an interval is being written, and that one is in
        # self._held for a moment without anything being wrong (it made a healthy run read
        # "degraded" once in a while).
        self.refused = 0

    def __len__(self) -> int:
        return self.refused

    def write(
        self, at: datetime, quotes: pa.Table, fetch_log: pa.Table
    ) -> tuple[Path | None, str | None]:
        """Write this interval (and any held before it). Returns (its path, error or None)."""
        self._held.append(_Held(self._last_at, at, quotes, fetch_log))
        self._last_at = at
        mine: Path | None = None
        while self._held:
            item = self._held[0]
            try:
                path = write_tick(self.pending_dir, item.at, item.quotes, item.fetch_log)
            except StorageError as exc:
                spilled = self._spill(item, exc)
                if spilled is None:
                    self._trim()
                    self.refused = len(self._held)
                    self.last_error = f"{exc}; {self.refused} tick(s) held in memory, will retry"
                    log.error("write failed error=%r held=%d", str(exc), len(self._held))
                    return mine, self.last_error
                path = spilled
            else:
                self.return_spilled()
            self._held.popleft()
            self.rows_written += item.quotes.num_rows
            if item.at == at:
                mine = path
            log.info(
                "tick at=%s rows=%d fetches=%d file=%s",
                item.at.isoformat(timespec="seconds"),
                item.quotes.num_rows,
                item.fetch_log.num_rows,
                path.name,
            )
        self.last_error = None
        self.refused = 0
        return mine, None

    def _spill(self, item: _Held, exc: StorageError) -> Path | None:
        if self.spill_dir is None:
            return None
        try:
            path = write_tick(self.spill_dir, item.at, item.quotes, item.fetch_log)
        except StorageError as spill_exc:
            log.error("spill failed error=%r (data dir: %s)", str(spill_exc), exc)
            return None
        self.spilled += 1
        log.warning("tick spilled file=%s reason=%r", path, str(exc))
        return path

    def recover(self) -> int:
        """At start-up, under the data-dir lock: sweep temp files a crash left in the spill
        dir, then move back what a previous run spilled. Returns how many came back."""
        if self.spill_dir is None:
            return 0
        try:
            sweep_temp_files(self.spill_dir, tree=True)
        except OSError as exc:
            log.warning("spill temp sweep failed dir=%s error=%r", self.spill_dir, str(exc))
        back = self.return_spilled()
        if back:
            log.info("spilled files of a previous run moved back to pending files=%d", back)
        return back

    def return_spilled(self) -> int:
        """The data dir writes again, or a new run starts (under the data-dir lock): move
        spilled files into pending for the batch thread. Returns how many moved; stops at the
        first that cannot move (the disk still refuses), the rest wait for the next try."""
        if self.spill_dir is None:
            return 0
        moved = 0
        for src in list_tick_files(self.spill_dir):
            dest_dir = self.pending_dir / src.parent.name
            try:
                move_file(src, dest_dir)
                fsync_dir(dest_dir)
            except (OSError, StorageError) as exc:
                log.warning("spilled file not moved back file=%s error=%r", src, str(exc))
                return moved
            moved += 1
            log.info("spilled file moved back file=%s", src.name)
        return moved

    def _trim(self) -> None:
        while len(self._held) > self.max_held:
            self._drop(self._held.popleft(), "memory limit of held intervals")

    def _drop(self, item: _Held, why: str) -> None:
        self.dropped += 1
        self.rows_dropped += item.quotes.num_rows
        self.fetches_dropped += item.fetch_log.num_rows
        self.dropped_ranges.append({"from": iso(item.since), "to": iso(item.at)})
        log.error(
            "interval dropped from=%s to=%s rows=%d fetches=%d reason=%r",
            iso(item.since) or "start",
            iso(item.at),
            item.quotes.num_rows,
            item.fetch_log.num_rows,
            why,
        )

    def give_up(self) -> int:
        """At the stop: what is still held is lost; each interval logged. Returns the count."""
        lost = len(self._held)
        while self._held:
            self._drop(self._held.popleft(), "stopped while the disk refused writes")
        self.refused = 0
        return lost

    def spilled_waiting(self) -> int:
        """Files in ``spill_dir`` not yet moved back to pending."""
        return len(list_tick_files(self.spill_dir)) if self.spill_dir is not None else 0

    def report(self) -> dict[str, Any]:
        return {
            "backlog_ticks": self.refused,
            "ticks_dropped": self.dropped,
            "rows_dropped": self.rows_dropped,
            "fetches_dropped": self.fetches_dropped,
            "dropped_ranges": list(self.dropped_ranges),
            "ticks_spilled": self.spilled,
            "spill_files_waiting": self.spilled_waiting(),
        }
