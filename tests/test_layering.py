"""The import graph of ``src/nsechain`` points only down, and has no circles.

Parses every module's imports with ``ast`` (lazy imports inside functions and ``TYPE_CHECKING``
imports included: a circle is a circle even when it is type-only) and checks them against the
floors below. A module may import its own package's modules and anything on a lower floor.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Floors, lowest first. A key is a top-level module or package under ``nsechain``.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "contract", "timeutil", "logs"),  # ground: the exception tree, the data contract
    ("sim",),  # the NSE simulator: beside the product, importing only the ground floor
    ("market",),  # pure: calendar, universe, expiry rules, request plan, INDEX_SYMBOLS
    ("config",),  # the one Settings object (validates with market's parsers)
    ("nse",),  # endpoints, transports, client, limiter, parser
    ("store",),  # paths, atomic writers, crash points, the one DuckDB door, loader
    # The optional Iceberg lake beside the store (DESIGN §3 puts it in the store): it reads
    # processed tick files and the DuckDB door; the desk reads history from it, and the
    # collector's lake thread commits to it.
    ("lake",),
    ("analytics",),  # the desk's SQL, views and maths over the store
    ("query",),  # the Desk
    ("collector",),  # scheduler, tick writer, the manager that reports itself
    ("web",),  # the dashboard
    ("chaos",),  # the crash harness
    ("cli",),  # every command, at the edge
    ("__main__", ""),  # ``python -m nsechain``; "" is the lazy facade ``nsechain/__init__``
)
RANK = {part: n for n, floor in enumerate(FLOORS) for part in floor}
#: The one circle allowed: sim.admin and sim.server name each other's types only.
ALLOWED_CIRCLES = [
    {"nsechain.sim.admin", "nsechain.sim.server"},
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "nsechain").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(name: str, path: Path) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:  # `from pkg import module` names the module itself
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base


def import_graph() -> dict[str, set[str]]:
    """Module -> the nsechain modules it imports (itself excluded)."""
    return {
        name: {t for t in _targets(name, path) if t in MODULES and t != name}
        for name, path in MODULES.items()
    }


def floor_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    return RANK[part]


def upward_imports() -> list[str]:
    bad = []
    for src, targets in import_graph().items():
        for dst in targets:
            same_package = src.split(".")[:2] == dst.split(".")[:2]
            if not same_package and floor_of(dst) >= floor_of(src):
                bad.append(f"{src} -> {dst}")
    return sorted(bad)


def circles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_floor() -> None:
    missing = {m for m in MODULES if (m.split(".")[1] if "." in m else "") not in RANK}
    assert not missing, f"add these to FLOORS in tests/test_layering.py: {sorted(missing)}"


def test_imports_only_point_down() -> None:
    assert upward_imports() == []


def test_no_circles_but_the_type_only_sim_pair() -> None:
    assert [c for c in circles() if c not in ALLOWED_CIRCLES] == []


if __name__ == "__main__":  # print the floors and what breaks them
    for n, floor in enumerate(FLOORS):
        print(n, ", ".join(p or "nsechain (facade)" for p in floor))
    print("\n".join(upward_imports()) or "no upward imports")
    print("\n".join(" <-> ".join(sorted(c)) for c in circles()) or "no circles")
