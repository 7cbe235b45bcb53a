"""The floors of the code: kernel -> feature_repo -> training -> serving -> cli; no upward import, no circle.

The import graph comes from grimp (every import statement, also those inside functions) over the `ivcrush`
namespace laid out by .ci/package_tree.py, as `lint-imports` sees it in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from functools import cache
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ("ivcrush.feature_repo", "ivcrush.training", "ivcrush.serving", "ivcrush.cli")  # above the kernel

_GRAPH_SCRIPT = """
import json, grimp
graph = grimp.build_graph("ivcrush", cache_dir=None)
imports = [
    [importer, imported, sorted({d["line_number"] for d in graph.get_import_details(importer=importer,
                                                                                  imported=imported)})]
    for importer in sorted(graph.modules)
    for imported in sorted(graph.find_modules_directly_imported_by(importer))
]
print(json.dumps({"modules": sorted(graph.modules), "imports": imports}))
"""

Imports = dict[str, dict[str, list[int]]]


@cache
def import_graph() -> tuple[frozenset[str], Imports]:
    """Every module of `ivcrush` and, per importer, the modules it imports with their line numbers."""
    command = [sys.executable, str(ROOT / ".ci" / "package_tree.py"), sys.executable, "-c", _GRAPH_SCRIPT]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    raw = json.loads(result.stdout)
    imports: Imports = {module: {} for module in raw["modules"]}
    for importer, imported, lines in raw["imports"]:
        imports[importer][imported] = lines
    return frozenset(raw["modules"]), imports


def floor(module: str) -> int:
    """0 for the kernel, then 1..4 for feature_repo, training, serving, cli."""
    for level, package in enumerate(FLOORS, start=1):
        if module == package or module.startswith(package + "."):
            return level
    return 0


def strongly_connected(imports: Imports) -> list[list[str]]:
    """Tarjan's strongly connected components of the import graph (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            successor = next(successors, None)
            if successor is not None:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(imports.get(successor, {})))))
                elif successor in on_stack:
                    low[node] = min(low[node], index[successor])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def cycle_through(component: list[str], imports: Imports) -> list[str]:
    """One shortest import cycle from the component's first module back to itself, as 'module (l.N)' steps."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier and start not in previous:
        next_frontier = []
        for module in frontier:
            for imported in sorted(imports[module]):
                if imported in members and imported not in previous:
                    previous[imported] = module
                    next_frontier.append(imported)
        frontier = next_frontier
    path = [start]
    while True:
        path.append(previous[path[-1]])
        if path[-1] == start:
            break
    path.reverse()
    return [
        f"{importer} (l.{','.join(map(str, imports[importer][imported]))})" for importer, imported in pairwise(path)
    ] + [start]


def test_graph_sees_every_floor() -> None:
    modules, _ = import_graph()
    assert "ivcrush.settings" in modules
    for package in FLOORS:
        assert package in modules, f"{package} is missing from the import graph"


def test_no_module_imports_a_higher_floor() -> None:
    _, imports = import_graph()
    upward = [
        f"{importer} (floor {floor(importer)}) imports {imported} (floor {floor(imported)}), line(s) {lines}"
        for importer, targets in sorted(imports.items())
        for imported, lines in sorted(targets.items())
        if floor(imported) > floor(importer)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    _, imports = import_graph()
    circles = [
        " -> ".join(cycle_through(component, imports))
        for component in strongly_connected(imports)
        if len(component) > 1
    ]
    assert not circles, "import circles (each a shortest cycle through the circle's first module):\n" + "\n".join(
        circles
    )


def test_kernel_contract_names_every_kernel_module() -> None:
    """The import-linter contract lists the kernel's modules one by one: a new one must be added there."""
    modules, _ = import_graph()
    kernel = {module for module in modules if module.count(".") == 1 and floor(module) == 0}
    with (ROOT / "pyproject.toml").open("rb") as handle:
        contracts = tomllib.load(handle)["tool"]["importlinter"]["contracts"]
    (forbidden,) = [contract for contract in contracts if contract["type"] == "forbidden"]
    assert set(forbidden["source_modules"]) == kernel
    assert set(forbidden["forbidden_modules"]) == set(FLOORS)
    (layers,) = [contract for contract in contracts if contract["type"] == "layers"]
    assert layers["layers"] == list(reversed(FLOORS))


def test_cycle_search_finds_a_circle() -> None:
    imports = {"a": {"b": [1]}, "b": {"c": [2]}, "c": {"a": [3], "d": [4]}, "d": {}}
    components = [component for component in strongly_connected(imports) if len(component) > 1]
    assert components == [["a", "b", "c"]]
    assert cycle_through(components[0], imports) == ["a (l.1)", "b (l.2)", "c (l.3)", "a"]
