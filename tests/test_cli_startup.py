"""The CLI starts light: ``--help``, ``status``, ``plan`` and ``calendar`` import neither the
dashboard (fastapi), nor the simulator, nor scipy (issue 20). Each runs in a fresh process,
which then lists the heavy modules it ended up with. Times are measured in bench/bench_flat.py,
never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

HEAVY = ("fastapi", "uvicorn", "scipy", "nsechain.sim", "nsechain.web", "nsechain.analytics")

_PROBE = """
import json, sys
from nsechain.cli import app
try:
    app(sys.argv[1:], prog_name="nsechain")
except SystemExit:
    pass
heavy = json.loads({heavy!r})
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or
                        any(m == h or m.startswith(h + ".") for h in heavy))))
"""

_STATUS = {
    "state": "test",
    "collection_thread": {
        "alive": True, "restarts": 0, "last_error": None, "last_tick_at": None,
        "fetches": {}, "ticks": 0, "rows_written": 0,
    },
    "batch_thread": {
        "alive": True, "restarts": 0, "last_error": None, "last_batch_at": None,
        "batches": 0, "files_loaded": 0, "rows_loaded": 0, "pending_files": 0,
    },
    "symbols": {},
}  # fmt: skip


def imported(args: list[str], cwd: Path) -> list[str]:
    code = _PROBE.format(heavy=json.dumps(list(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
        env={"PATH": "/usr/bin:/bin", "NSECHAIN_DATA_DIR": str(cwd / "data")},
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize(
    "args",
    [["--help"], ["status"], ["plan"], ["calendar"], ["show", "--help"]],
    ids=" ".join,
)
def test_light_commands_import_no_dashboard_simulator_or_scipy(
    args: list[str], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "status.json").write_bytes(orjson.dumps(_STATUS))
    # The latency model's defaults (a pure dataclass) name `simulate`'s options; the server is
    # what must stay out.
    light = {"nsechain.sim", "nsechain.sim.latency"}
    assert [m for m in imported(args, tmp_path) if m not in light] == []


#: What ``--help`` must not pay for either: our Settings class (pydantic-settings), the data
#: stack, and rich's Markdown renderer. A flag's help comes from the generated
#: ``cli._help_table``. Typer (0.29) itself imports pydantic to coerce a command's parameters,
#: so only the root ``--help`` is pydantic-free.
HELP_HEAVY = (
    "pydantic_settings",
    "nsechain.config",
    "pyarrow",
    "numpy",
    "duckdb",
    "pandas",
    "markdown_it",  # typer's markdown mode, unused (cli/_richhelp.py)
    "rich.markdown",
)


@pytest.mark.parametrize(
    "args", [["--help"], ["show", "--help"], ["collect", "--help"]], ids=" ".join
)
def test_help_imports_neither_settings_nor_the_data_stack(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heavy = HELP_HEAVY + (("pydantic", "orjson") if args == ["--help"] else ())
    monkeypatch.setattr(sys.modules[__name__], "HEAVY", heavy)
    assert imported(args, tmp_path) == []


def test_generated_help_table_matches_settings() -> None:
    """``cli._help_table`` is generated from the Settings descriptions: regenerate it with
    ``python -m nsechain.cli._settings && ruff format`` when this fails."""
    from nsechain.cli._help_table import HELP
    from nsechain.cli._settings import help_table

    assert help_table() == HELP


_BUILD = """
import builtins
import typer.main
from nsechain.cli import app
compiled = []
real = builtins.compile
builtins.compile = lambda *a, **k: (compiled.append(a[0]), real(*a, **k))[1]
typer.main.get_command(app)
print(len(compiled))
"""


def test_commands_are_built_without_compiling_their_annotations() -> None:
    """Typer reads every command's signature at each start (``get_type_hints``): string
    annotations (``from __future__ import annotations``) are compiled one by one then: 290 of
    them before, a third of ``--help``'s time. The command modules keep evaluated annotations
    (the TYPE_CHECKING names quoted by hand)."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0"


_HELP = """
import sys
if sys.argv[1] == "real":
    import rich.markdown  # noqa: F401  (then typer's help imports it as usual)
from nsechain.cli import app
try:
    app(sys.argv[2:], prog_name="nsechain")
except SystemExit:
    pass
"""


@pytest.mark.parametrize("args", [["--help"], ["show", "--help"]], ids=" ".join)
def test_help_without_rich_markdown_is_the_same_help(args: list[str]) -> None:
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "100", "FORCE_COLOR": "1", "TERM": "xterm"}
    out = {
        how: subprocess.run(
            [sys.executable, "-c", _HELP, how, *args], capture_output=True, check=True, env=env
        ).stdout
        for how in ("real", "stand-in")
    }
    assert b"\x1b[" in out["real"] and b"Usage" in out["real"]  # rich's panels, in colour
    assert out["stand-in"] == out["real"]
