"""typer's rich help, without loading rich's Markdown renderer it never uses here.

Where it sits: under ``cli/main.py``, which calls ``import_rich_help`` before a help is shown.
typer formats every help with ``typer.rich_utils``, which imports ``rich.markdown`` at its top,
and with it markdown-it (about 50 ms, a sixth of ``nsechain --help``), for its "markdown"
markup mode only. This CLI uses typer's default "rich" mode, which never builds a Markdown.
So ``rich_utils`` is imported once with a stand-in for ``rich.markdown`` whose ``Markdown``
builds the real one if it is ever asked for; the stand-in leaves ``sys.modules`` at once, so
anything that imports ``rich.markdown`` later gets the real module. The help is the same, byte
for byte (tests/test_cli_startup.py compares). Compared with turning rich help off
(``rich_markup_mode=None``: plain click help, 0.17 s), this keeps typer's panels and colours.
"""

import importlib
import sys
import types
from typing import Any

__all__ = ["import_rich_help"]


class _DeferredMarkdown:
    """Stands for ``rich.markdown.Markdown`` in ``typer.rich_utils``: builds the real one."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from rich.markdown import Markdown  # the real module: the stand-in is gone by now

        return Markdown(*args, **kwargs)


def import_rich_help() -> None:
    """Import ``typer.rich_utils`` without ``rich.markdown`` (once; a no-op after)."""
    if "typer.rich_utils" in sys.modules or "rich.markdown" in sys.modules:
        return
    stand_in = types.ModuleType("rich.markdown")
    setattr(stand_in, "Markdown", _DeferredMarkdown)  # noqa: B010  (a module, not a class)
    sys.modules["rich.markdown"] = stand_in
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        if sys.modules.get("rich.markdown") is stand_in:
            del sys.modules["rich.markdown"]
