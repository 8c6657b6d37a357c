"""The package's layout, read from the source (ast, nothing imported): imports flow one way, cli -> pipelines -> core,
with no cycle among mineshaft's modules (imports at module level and inside functions alike); every module stays
under 500 lines; imports of mineshaft modules inside functions are few (they keep torch, faiss, ray or transformers
off the paths that do not need them). docs/architecture.md describes the layout these tests hold it to."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mineshaft"
MAX_LINES = 500
MAX_INNER_IMPORTS = 30

#: the command line: it parses, checks and calls the pipelines (its imports inside commands keep --help fast)
CLI = ("mineshaft.cli", "mineshaft.__main__")
#: what a command runs; they may use each other (mine encodes, eval mines) and the core, never the command line
PIPELINES = ("mineshaft.encode", "mineshaft.evaluate", "mineshaft.catalog", "mineshaft.route", "mineshaft.training",
             "mineshaft.mining.mine", "mineshaft.mining.sources", "mineshaft.mining.output", "mineshaft.mining.score",
             "mineshaft.mining.threshold", "mineshaft.mining.null_model", "mineshaft.mining.filters",
             "mineshaft.mining.corpus", "mineshaft.mining.report", "mineshaft.mining.report_html")
LAYERS = {0: "core", 1: "pipelines", 2: "cli"}


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer(module: str) -> int:
    """2 for the command line, 1 for the pipelines, 0 for the core (encoders, engines, search, margin, io...)."""
    return 2 if _under(module, CLI) else 1 if _under(module, PIPELINES) else 0


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its ``__init__.py``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """``(imported mineshaft module, line, inside a function)`` for each mineshaft module an import statement of
    ``path`` imports: ``from X import y`` is an import of ``X.y`` where that is a module, else of ``X``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, inner: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, inner) for a in child.names if a.name.split(".")[0] == "mineshaft")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                if source.split(".")[0] == "mineshaft":
                    targets = {f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in child.names}
                    found.extend((target, child.lineno, inner) for target in sorted(targets))
            visit(child, inner or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _, _ in imports(name, path, known):
            assert target in known, f"{path}: imports {target}, which is not a module of the package"
            if target != name:
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_the_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_flow_from_the_command_line_to_the_pipelines_to_the_core():
    wrong = [f"{a} ({LAYERS[layer(a)]}) imports {b} ({LAYERS[layer(b)]})"
             for a, targets in import_graph().items() for b in sorted(targets) if layer(b) > layer(a)]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_is_under_500_lines(name):
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines < MAX_LINES, f"{name}: {lines} lines; split it by what its parts do"


def test_few_imports_of_mineshaft_modules_inside_functions():
    """Outside the command line, at most 30: module-level imports unless an inner one keeps a heavy dependency off a
    path that does not need it (the torch encoders, the HTML report, ...)."""
    known = modules()
    inner = [f"{known[name].relative_to(PACKAGE.parent)}:{line}: {target}"
             for name, path in known.items() if not _under(name, CLI)
             for target, line, is_inner in imports(name, path, known) if is_inner]
    assert len(inner) <= MAX_INNER_IMPORTS, f"{len(inner)} imports inside functions:\n" + "\n".join(inner)


def test_every_package_is_listed_for_installation():
    """pyproject.toml lists the packages (setuptools does not find them): a subpackage left out is missing from a
    wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages <= listed, sorted(packages - listed)
