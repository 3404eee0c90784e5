"""The package layers, checked on the source: api, graph, runtime, then the REST API and
the cluster wiring, then the CLI; ``pyflink`` sits beside ``api`` (PyFlink's module paths,
re-exporting the API). A module that needs something from a higher layer gets
it passed in.

Every module under src/headwater is parsed with ``ast``; its imports are split into
module-level ones (run at import time; ``if TYPE_CHECKING:`` blocks excluded) and ones
inside functions (run when called).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import headwater

SRC = Path(headwater.__file__).parent


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module, where it is imported and how."""

    module: str
    target: str
    path: Path
    line: int
    in_function: bool
    type_checking: bool

    def where(self) -> str:
        """``path:line (module -> target)`` for failure messages."""
        return f"{self.path.relative_to(SRC.parent)}:{self.line} ({self.module} -> {self.target})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if prefix == "headwater":  # from headwater import x: x may be a module or a name
        return [f"headwater.{alias.name}" for alias in node.names]
    return [prefix]


def imports_of(path: Path) -> Iterator[Import]:
    """Every ``headwater`` import of one source file."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))

    def walk(node: ast.AST, in_function: bool, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module, is_package):
                    if target == "headwater" or target.startswith("headwater."):
                        yield Import(module, target, path, child.lineno, in_function,
                                     type_checking)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                yield from walk(child, in_function, True)
            else:
                nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                yield from walk(child, in_function or nested, type_checking)

    yield from walk(tree, False, False)


def all_imports() -> list[Import]:
    return [imp for path in sorted(SRC.rglob("*.py")) for imp in imports_of(path)]


def package_of(module: str) -> str:
    """The top-level package (or module) below ``headwater``: ``api``, ``runtime``, ``cli``..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _failures(imports: list[Import]) -> str:
    return "\n".join(f"  {imp.where()}" for imp in imports)


IMPORTS = all_imports()


def test_the_walk_sees_imports_at_module_level_and_in_functions():
    assert any(i.module == "headwater.api.environment" and i.in_function for i in IMPORTS)
    assert any(i.module == "headwater.api.datastream" and not i.in_function for i in IMPORTS)


def test_no_import_cycle_between_top_level_packages():
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in IMPORTS:
        if imp.in_function or imp.type_checking:
            continue
        source, target = package_of(imp.module), package_of(imp.target)
        if source and target and source != target:
            edges.setdefault((source, target), []).append(imp)
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    cyclic = [(s, t) for (s, t) in edges if reaches(t, s)]
    assert not cyclic, "import cycles between packages (module-level imports):\n" + "\n".join(
        f"{s} -> {t}:\n{_failures(edges[(s, t)])}" for s, t in sorted(cyclic))


def test_api_imports_no_lower_layer_at_module_level():
    forbidden = {"runtime", "rest", "cluster", "client", "artifacts"}
    bad = [i for i in IMPORTS if package_of(i.module) == "api" and not i.in_function
           and not i.type_checking and package_of(i.target) in forbidden]
    assert not bad, ("api imports runtime/rest/cluster/client/artifacts at import time "
                     "(only execute() may, inside the function):\n" + _failures(bad))


def test_runtime_imports_no_higher_layer_anywhere():
    forbidden = {"rest", "client", "artifacts", "cluster"}
    bad = [i for i in IMPORTS if package_of(i.module) == "runtime"
           and package_of(i.target) in forbidden]
    assert not bad, ("runtime imports rest/client/artifacts/cluster (pass what it needs in "
                     "from the composition root, headwater.cluster):\n" + _failures(bad))


def test_pyflink_imports_only_the_api_and_nothing_imports_pyflink():
    bad = [i for i in IMPORTS if package_of(i.module) == "pyflink"
           and package_of(i.target) not in ("api", "pyflink")]
    assert not bad, "headwater.pyflink imports more than headwater.api:\n" + _failures(bad)
    users = [i for i in IMPORTS if package_of(i.target) == "pyflink"
             and package_of(i.module) != "pyflink"]
    assert not users, "only user programs import headwater.pyflink:\n" + _failures(users)
