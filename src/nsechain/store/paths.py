"""The on-disk layout of tick files: names, day folders, listing. Pure helpers, no I/O but listing.

Where it sits: ``store.files`` names what it writes with these, ``store.loader`` lists pending
files and derives processed/quarantine destinations with them. One place knows the layout:

    <pending_dir>/YYYYMMDD/tick_YYYYMMDDTHHMMSS_<8hex>.parquet      written by the collector
    <processed_dir>/YYYYMMDD/<same name>                            after the load committed
    <quarantine_dir>/YYYYMMDD/<name> + <name>.reason.json            unreadable bodies and files

Dates and times in names are IST (the market's clock), so a trading day is one folder and names
sort in tick order across folders.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from pathlib import Path

from nsechain.timeutil import IST

__all__ = [
    "TEMP_PREFIX",
    "TICK_SUFFIX",
    "day_folder",
    "day_of_name",
    "is_temp",
    "is_tick_file",
    "list_strangers",
    "list_temp_files",
    "list_temp_files_tree",
    "list_tick_files",
    "temp_name",
    "tick_file_name",
    "tick_time_of_name",
]

#: Temp files start with a dot so that globbing ``*.parquet`` or ``tick_*`` never sees them.
TEMP_PREFIX = ".tmp-"
TICK_PREFIX = "tick_"
TICK_SUFFIX = ".parquet"

_DAY_RE = re.compile(r"^\d{8}$")
_TICK_RE = re.compile(r"^tick_(\d{8}T\d{6})_[0-9a-f]{8}\.parquet$")
_STAMP = "%Y%m%dT%H%M%S"


def _as_ist(moment: datetime) -> datetime:
    # A naive datetime is ambiguous (UTC? IST? local?); refusing it keeps folders honest.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"need an aware datetime, got naive {moment!r}")
    return moment.astimezone(IST)


def tick_file_name(tick_at: datetime, token: str | None = None) -> str:
    """``tick_YYYYMMDDTHHMMSS_<8hex>.parquet`` for the IST time of ``tick_at``.

    ``token`` (8 lowercase hex) is random by default; it keeps two writers of the same second
    (a restart within the minute, two shards) from ever choosing the same name.
    """
    token = secrets.token_hex(4) if token is None else token
    if not re.fullmatch(r"[0-9a-f]{8}", token):
        raise ValueError(f"token must be 8 lowercase hex digits, got {token!r}")
    return f"{TICK_PREFIX}{_as_ist(tick_at).strftime(_STAMP)}_{token}{TICK_SUFFIX}"


def day_folder(root: Path, moment: datetime | date) -> Path:
    """``root/YYYYMMDD`` for the IST date of ``moment`` (a ``date`` is taken as already IST)."""
    day = _as_ist(moment).date() if isinstance(moment, datetime) else moment
    return root / day.strftime("%Y%m%d")


def tick_time_of_name(name: str) -> datetime | None:
    """The IST tick time encoded in a tick file name, or None if ``name`` is not one."""
    match = _TICK_RE.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=IST)


def day_of_name(name: str) -> date | None:
    """The IST trading day of a tick file name, or None if ``name`` is not one."""
    moment = tick_time_of_name(name)
    return None if moment is None else moment.date()


def is_temp(path: Path | str) -> bool:
    return Path(path).name.startswith(TEMP_PREFIX)


def is_tick_file(path: Path | str) -> bool:
    return _TICK_RE.match(Path(path).name) is not None


def temp_name(final_name: str) -> str:
    """A unique temp name beside ``final_name``; unique so concurrent saves never share one."""
    return f"{TEMP_PREFIX}{final_name}.{secrets.token_hex(4)}"


def _day_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _DAY_RE.match(p.name))


def list_tick_files(root: Path) -> list[Path]:
    """Every finished tick file under ``root/YYYYMMDD/``, oldest first (names sort by time)."""
    found = [p for day in _day_dirs(root) for p in day.iterdir() if is_tick_file(p)]
    return sorted(found, key=lambda p: p.name)


def list_strangers(root: Path) -> list[Path]:
    """Files directly under ``root`` or its day folders that are neither tick files nor temp
    files: nothing the collector wrote, so nothing a load would ever pick up."""
    dirs = [root, *_day_dirs(root)] if root.is_dir() else []
    return sorted(
        p
        for d in dirs
        for p in d.iterdir()
        if p.is_file() and not is_temp(p) and not (d != root and is_tick_file(p))
    )


def list_temp_files(root: Path) -> list[Path]:
    """Temp files directly under ``root`` and under its day folders."""
    dirs = [root, *_day_dirs(root)] if root.is_dir() else []
    return sorted(p for d in dirs for p in d.iterdir() if is_temp(p) and p.is_file())


def list_temp_files_tree(root: Path) -> list[Path]:
    """Temp files anywhere under ``root``: every atomic writer of the project (tick files,
    status.json, quarantine bodies and sidecars, market caches) names its temp file so."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob(f"{TEMP_PREFIX}*") if p.is_file())
