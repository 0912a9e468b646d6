"""One way for every command to build its Settings: flags > env > TOML > defaults, or exit 2.

Where it sits: inside the CLI package, below every command module (they all import it).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from nsechain.config import Settings, load_settings
from nsechain.errors import ConfigError

__all__ = ["err", "setting_help", "settings_or_exit"]

err = Console(stderr=True, soft_wrap=True)


def settings_or_exit(*, preflight: bool = False, **flags: Any) -> Settings:
    """Settings from flags > env > TOML > defaults; with ``preflight``, paths and symbols too.

    Any problem is one line naming the setting, and exit code 2, before anything runs.
    """
    from nsechain.collector.preflight import validate_startup

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
    info = Settings.model_fields[field]
    default = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
    if isinstance(default, list):
        default = ",".join(default)
    shown = "none" if default is None else default
    return f"{info.description}{extra} [default: {shown}; env NSECHAIN_{field.upper()}]"
