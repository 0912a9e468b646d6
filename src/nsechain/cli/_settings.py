"""One way for every command to build its Settings: flags > env > TOML > defaults, or exit 2.

Where it sits: inside the CLI package, below every command module (they all import it).
Importing it is light: the Settings class (pydantic) is imported only when a command runs, and a
flag's help comes from ``_help_table`` (generated from the Settings field descriptions; a test
keeps the two equal), so ``nsechain --help`` does not pay for pydantic (issue 20).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from nsechain.cli._help_table import HELP
from nsechain.errors import ConfigError

if TYPE_CHECKING:
    from nsechain.config import Settings

__all__ = ["err", "help_table", "setting_help", "settings_or_exit", "write_help_table"]

err = Console(stderr=True, soft_wrap=True)
_TABLE = Path(__file__).with_name("_help_table.py")


def settings_or_exit(*, preflight: bool = False, **flags: Any) -> Settings:
    """Settings from flags > env > TOML > defaults; with ``preflight``, paths and symbols too.

    Any problem is one line naming the setting, and exit code 2, before anything runs.
    """
    from nsechain.collector.preflight import validate_startup
    from nsechain.config import load_settings

    try:
        settings = load_settings(**flags)
        if preflight:
            validate_startup(settings)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    return settings


def setting_help(field: str, extra: str = "") -> str:
    """A flag's help: the Settings description, its default and its environment variable."""
    # A field missing from the generated table (added since) is read from Settings: slower
    # to start, never wrong; test_cli_startup says to regenerate.
    description, tail = HELP[field] if field in HELP else help_table()[field]
    return f"{description}{extra} {tail}"


def help_table() -> dict[str, tuple[str, str]]:
    """(description, "[default: …; env …]") of every Settings field, computed from Settings."""
    from nsechain.config import Settings

    table: dict[str, tuple[str, str]] = {}
    for field, info in Settings.model_fields.items():
        default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
        if isinstance(default, list):
            default = ",".join(default)
        shown = "none" if default is None else default
        table[field] = (info.description or "", f"[default: {shown}; env NSECHAIN_{field.upper()}]")
    return table


def write_help_table(path: Path = _TABLE) -> None:
    """Regenerate ``_help_table.py`` from Settings (``python -m nsechain.cli._settings``)."""
    lines = [
        "# ruff: noqa: E501",
        '"""Generated from the Settings field descriptions: do not edit.',
        "",
        "Regenerate: ``python -m nsechain.cli._settings && ruff format`` (a test checks it).",
        "Where it sits: under ``cli._settings``; a plain dict, so ``--help`` needs no pydantic.",
        '"""',
        "",
        "HELP: dict[str, tuple[str, str]] = {",
        *(f"    {field!r}: {pair!r}," for field, pair in help_table().items()),
        "}",
        "",
    ]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    write_help_table()
