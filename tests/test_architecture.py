"""The map in DESIGN.md's "Layers" as a test: imports point down only, no cycles.

Every `import genlab...` in src/genlab counts, including those inside functions (a
lazy import is still a dependency; it only moves the cost). A package may import
packages on a lower floor, and packages on its own floor as long as no cycle forms;
the adapters (cli/, web/) may import only services/ and core/ below them, so every
thing a user can ask for goes through services/.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import genlab

SRC = Path(genlab.__file__).parent
# Top floor first. `genlab` itself (its __init__) only re-exports core's types.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("cli", "web"),  # thin adapters
    ("services",),  # what a user can ask for; the one layer both adapters call
    ("lab", "data", "community"),  # plain library code over the capabilities
    ("engines", "transfer", "upscale", "metrics", "train"),  # the capabilities
    # Prompt syntax, Shapes World; and two helpers every capability shares: the one
    # place devices are picked, and the reader of published weight files.
    ("prompts", "world", "devices", "pretrained"),
    ("core", ""),  # typed requests/results/events, errors, metadata; the package face
)
ADAPTERS = FLOORS[0]
ADAPTERS_MAY_IMPORT = frozenset(("services", "core", ""))
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}

# Imports allowed to break the map, (importer module, imported package): none. Were one
# ever listed, an entry that no longer occurs fails the test, so the list only shrinks.
KNOWN: frozenset[tuple[str, str]] = frozenset()
# Cycles that exist today, as sorted lists of their members; the same rule applies.
KNOWN_CYCLES: list[list[str]] = []


def module_name(path: Path) -> str:
    parts = ["genlab", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in SRC.rglob("*.py")}


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The genlab modules `name` imports (a `from package import name` that names a
    submodule counts as importing that submodule)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("genlab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing package
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "genlab" or target.startswith("genlab."):
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    yield submodule if submodule in known else target


def package_of(module: str) -> str:
    """The top-level package under genlab ("engines"), "" for genlab itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: set(imports(name, path, found)) & set(found) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer module, imported package) for every import against the floors."""
    bad = set()
    for importer, targets in graph.items():
        source = package_of(importer)
        for target in targets:
            dest = package_of(target)
            if dest == source:
                continue
            if source in ADAPTERS and dest not in ADAPTERS:
                allowed = dest in ADAPTERS_MAY_IMPORT
            else:
                allowed = FLOOR[dest] >= FLOOR[source]
            if not allowed:
                bad.add((importer, dest))
    return bad


def test_every_package_has_a_floor() -> None:
    packages = {package_of(name) for name in modules()}
    assert packages <= set(FLOOR), f"put {sorted(packages - set(FLOOR))} on a floor of FLOORS"


def test_imports_point_down_only() -> None:
    found = violations(import_graph())
    new = sorted(found - KNOWN)
    assert not new, "imports up a floor (or an adapter past services):\n" + "\n".join(
        f"  {importer} -> genlab.{package}" for importer, package in new
    )
    gone = sorted(KNOWN - found)
    assert not gone, f"fixed: remove these from KNOWN: {gone}"


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, targets in import_graph().items():
        graph[package_of(importer)].update(package_of(t) for t in targets)
    for package in graph:
        graph[package].discard(package)
    _check_cycles(cycles(graph), [c for c in KNOWN_CYCLES if "." not in c[0]])


def test_no_cycles_between_modules() -> None:
    _check_cycles(cycles(import_graph()), [c for c in KNOWN_CYCLES if "." in c[0]])


def _check_cycles(found: list[list[str]], known: list[list[str]]) -> None:
    assert [c for c in found if c not in known] == [], "import cycles"
    assert [c for c in known if c not in found] == [], "fixed: remove these from KNOWN_CYCLES"


def test_the_contract_sees_an_upward_import() -> None:
    """The checker itself: an upward import and a cycle are both caught."""
    graph = {"genlab.core.a": {"genlab.engines.b"}, "genlab.engines.b": {"genlab.core.a"}}
    assert violations(graph) == {("genlab.core.a", "engines")}
    assert cycles(graph) == [["genlab.core.a", "genlab.engines.b"]]
    assert violations({"genlab.web.x": {"genlab.engines.b"}}) == {("genlab.web.x", "engines")}


def test_cli_functions_are_short() -> None:
    """The CLI is a thin adapter: no function in cli/ over 60 lines (signature and
    docstring included); logic goes to services/ or a small helper."""
    long = []
    for path in sorted((SRC / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.name}:{node.name} ({lines} lines)")
    assert not long, "move logic out of: " + ", ".join(long)
