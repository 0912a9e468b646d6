"""Start-up checks: the setting mistakes that would otherwise fail minutes later, or silently.

Where it sits: the CLI (``nsechain collect``) calls ``validate_startup(settings)`` right after
building Settings and before the manager touches the disk or the network; a ``ConfigError``
then becomes ``error: <one line>`` and exit code 2. Value errors (``rate <= 0``, unknown TOML
keys) are caught earlier by ``config.load_settings``; this module checks what a validator of a
single field cannot: the file system and the F&O universe.

Every message is one line that starts with the setting's name and says what to do.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from nsechain.collector.targets import build_universe
from nsechain.config import Settings
from nsechain.errors import ConfigError
from nsechain.market.universe import Universe, load_universe_cache

__all__ = ["validate_startup"]

_GLOB = "*?[]{}"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


def validate_startup(settings: Settings) -> None:
    """Raise ``ConfigError`` naming the first bad setting; return None when all is well.

    Reads only: nothing is created, so a refused start leaves no trace.
    """
    _check_data_dir(settings.data_dir)
    _check_db_path(settings.db_path)
    _check_symbols(settings)


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # unreachable for an absolute path; "" for a relative one


def _check_data_dir(path: Path) -> None:
    name = "data_dir"
    if any(c in str(path.resolve()) for c in _GLOB):
        raise ConfigError(
            f"{name}: {path} contains a glob character ({_GLOB}), which DuckDB's read_parquet "
            "would expand; choose another folder"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}: {path} is a file, not a folder; give a folder path")
    base = _existing_ancestor(path)
    if not base.is_dir():
        raise ConfigError(f"{name}: {path} cannot be created: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        what = "folder" if base == path else f"folder {base} (where it would be created)"
        raise ConfigError(f"{name}: {path} is not writable: no write permission on the {what}")


def _check_db_path(path: Path) -> None:
    name = "db_path"
    if path.is_dir():
        raise ConfigError(f"{name}: {path} is a folder; give a file path such as {path}/nse.duckdb")
    parent = path.parent
    if not parent.exists():  # created, like the data dir, if it can be
        base = _existing_ancestor(parent)
        if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{name}: {path}: folder {parent} cannot be created under {base}; fix the path"
            )
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        raise ConfigError(f"{name}: {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}: {path}: no write permission on folder {parent}")
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            head = fh.read(12)
        if head[8:12] != _DUCKDB_MAGIC:
            raise ConfigError(
                f"{name}: {path} exists but is not a DuckDB database; move it away or fix the path"
            )


def _check_symbols(settings: Settings) -> None:
    if settings.all_symbols:
        return
    base = load_universe_cache(settings.market_dir) or Universe.bundled()
    _, unknown = build_universe(settings)
    if not unknown:
        return
    known = list(base.symbols)
    hints = []
    for symbol in unknown:
        close = difflib.get_close_matches(symbol, known, n=1, cutoff=0.6)
        hints.append(f"{symbol} (did you mean {close[0]}?)" if close else symbol)
    as_of = f" as of {base.as_of.isoformat()}" if base.as_of else ""
    raise ConfigError(
        f"symbols: not in NSE's F&O list{as_of}: {', '.join(hints)}; "
        "check the spelling (NSE writes M&M, BAJAJ-AUTO) or use ALL"
    )
