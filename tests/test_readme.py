"""The README stays true: every setting and every command it should document, it does."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from nsechain.cli import app
from nsechain.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_setting_is_in_the_config_table() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert missing == []


def test_every_command_is_in_the_cli_table() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    missing = [name for name in commands if f"`nsechain {name}" not in README]
    assert missing == []


def test_the_two_commands_open_the_readme() -> None:
    head = README[:1500]
    assert "make run" in head and "make test" in head
