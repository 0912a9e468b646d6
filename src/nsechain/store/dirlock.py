"""One writer per data dir: an exclusive ``flock`` on ``<data_dir>/nsechain.lock``.

Where it sits: the collector's manager takes it before its start-up sweep (a second collector
must not delete the first one's temp files, nor double NSE traffic), and ``nsechain rebuild``
takes it before it moves the database aside. A refused start is one line naming the holder's
PID. The lock belongs to the open file: the kernel drops it when the process ends, however it
ends (SIGKILL included), so no stale lock is ever left to clean up. The file itself stays; its
text (PID, command, since when) is only read to name the holder.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from nsechain.errors import DataDirBusy, StorageError
from nsechain.timeutil import now_ist

__all__ = ["LOCK_NAME", "DataDirLock"]

log = logging.getLogger(__name__)

LOCK_NAME = "nsechain.lock"


class DataDirLock:
    """Exclusive, non-blocking, released by ``release()`` or by the process's end."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self, command: str = "collect") -> None:
        """Take the lock or raise ``DataDirBusy`` naming the holder. Idempotent."""
        if self._fh is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # "a+": never truncate before holding the lock (the holder's text names it).
            fh = self.path.open("a+", encoding="utf-8")  # close-on-exec: children never hold it
        except OSError as exc:
            raise StorageError(
                f"cannot open the lock file ({exc.strerror})", path=self.path
            ) from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read(200).strip()
            fh.close()
            raise self._busy(holder, command) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid={os.getpid()} command={command} since={now_ist().isoformat()}\n")
        fh.flush()
        self._fh = fh
        log.debug("data dir lock taken path=%s pid=%d", self.path, os.getpid())

    def _busy(self, holder: str, command: str) -> DataDirBusy:
        fields = dict(part.split("=", 1) for part in holder.split() if "=" in part)
        pid = int(fields["pid"]) if fields.get("pid", "").isdigit() else None
        who = f"PID {pid}" if pid is not None else "a process that has not written its PID yet"
        what = (
            f" ({fields['command']} since {fields.get('since', '?')})"
            if "command" in fields
            else ""
        )
        busy = f"data_dir: {self.path.parent} is in use by another nsechain process, {who}{what}"
        if command == "rebuild":
            # Rebuild loads from pending and moves files to processed, like the collector's
            # loader: two loaders on one data dir would race. So it waits its turn; say how.
            stop = f"`kill -TERM {pid}`" if pid is not None else "stop that process"
            return DataDirBusy(
                f"{busy}; `nsechain rebuild` cannot run beside it: stop it ({stop}, or "
                "`systemctl stop` its unit: with Restart=always a plain kill restarts it), run "
                "`nsechain rebuild` again, then start the collector. No tick file is lost "
                "meanwhile: what was written is rebuilt, only the stopped minutes go unrecorded",
                pid=pid,
            )
        return DataDirBusy(f"{busy}; stop it first, or give this one another data_dir", pid=pid)

    def release(self) -> None:
        if self._fh is None:
            return
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None
