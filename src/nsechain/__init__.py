"""nsechain: record NSE India option chains every minute into Parquet and DuckDB.

The public surface is small: ``OptionsThreadedManager`` (start, status, stop), ``Settings``,
``connect`` (the analysis desk over the DuckDB file) and the error tree in ``nsechain.errors``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["OptionsThreadedManager", "Settings", "__version__", "connect"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from nsechain.collector.manager import OptionsThreadedManager
    from nsechain.config import Settings
    from nsechain.query import connect


def __getattr__(name: str) -> Any:
    # Lazy, so `import nsechain` stays cheap for the CLI and the parser benchmark.
    if name == "OptionsThreadedManager":
        from nsechain.collector.manager import OptionsThreadedManager

        return OptionsThreadedManager
    if name == "Settings":
        from nsechain.config import Settings

        return Settings
    if name == "connect":
        from nsechain.query import connect

        return connect
    raise AttributeError(name)
