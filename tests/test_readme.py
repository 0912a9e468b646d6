"""The README stays true: every setting and every command it should document, it does."""

from __future__ import annotations

import re
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


def _flags() -> dict[str, set[str]]:
    """Every ``--flag`` of every command, by command."""
    out: dict[str, set[str]] = {}
    commands = dict(get_command(app).commands)  # type: ignore[attr-defined]
    for group, command in list(commands.items()):  # a group's commands: "lake commit"
        for sub, subcommand in getattr(command, "commands", {}).items():
            commands[f"{group} {sub}"] = subcommand
    for name, command in commands.items():
        out[name] = {
            o
            for p in command.params
            if p.param_type_name == "option" and p.name != "help"
            for o in (*p.opts, *p.secondary_opts)
            if o.startswith("--")
        }
    return out


def test_every_flag_is_in_the_readme_and_every_flag_it_names_exists() -> None:
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2]
        for line in README.splitlines()
        if line.startswith("| `") and line.count("|") == 3
    }
    missing = {
        name: sorted(f for f in flags if f"`{f}`" not in rows.get(name, ""))
        for name, flags in _flags().items()
    }
    assert {k: v for k, v in missing.items() if v} == {}
    every = set().union(*_flags().values()) | {"--help"}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]", README))
    assert sorted(named - every) == []


def test_help_shows_every_default() -> None:
    """An option with a value either shows its default or says what it is in its help."""
    silent = [
        f"{name} {p.opts[0]}"
        for name, command in get_command(app).commands.items()  # type: ignore[attr-defined]
        for p in command.params
        if p.param_type_name == "option" and p.name != "help" and not p.is_flag
        and not p.required and (p.default is None or p.show_default is False)
        and "default" not in (p.help or "")
    ]  # fmt: skip
    assert silent == []


def test_every_desk_method_is_in_the_python_example() -> None:
    from nsechain.query import Desk

    public = [n for n in dir(Desk) if not n.startswith("_") and callable(getattr(Desk, n))]
    assert [n for n in public if not re.search(rf"\.{n}\(", README)] == []
