"""The layers, read from the code's own imports (ARCHITECTURE.md).

`compare` (matrix, verdicts, reports, validate, pytest plugin, CLI) uses `kernel_model`
and `agent_model`; neither of those imports `compare`, nor each other. And no circle of
imports among the modules, outside a package's `__init__` re-exporting its parts.

Every import counts: at module level, inside a function (a lazy import is still a
dependency), under `TYPE_CHECKING`, and in the source of a child program kept in a string
(`python -c` code). An import of a name a package's `__init__` re-exports counts as an
import of the module that defines it.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel_model", "agent_model", "compare")
#: who may import whom (a package always may import itself)
ALLOWED = {
    "compare": {"kernel_model", "agent_model"},
    "kernel_model": set(),
    "agent_model": set(),
}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    rel: str  # the path from the root, for messages
    is_package: bool  # an __init__.py
    tree: ast.Module


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    text: str  # the import statement, for the message


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            found[name] = Module(name, path, str(path.relative_to(root)), is_package,
                                 ast.parse(path.read_text(), str(path)))
    return found


def _code_in_strings(tree: ast.AST) -> list[tuple[ast.AST, int]]:
    """Programs kept in string constants (a child's `python -c` source): each string that
    parses as Python and imports something, with the line the string starts on."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                "import " in node.value):
            try:
                code = ast.parse(textwrap.dedent(node.value))
            except SyntaxError:
                continue
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(code)):
                out.append((code, node.lineno - 1))
    return out


def _imports(tree: ast.AST):
    """(import statement, its line in the file)"""
    for code, offset in ((tree, 0), *_code_in_strings(tree)):
        for node in ast.walk(code):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                yield node, offset + node.lineno


def _base(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts.pop()
    parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _owner(name: str, mods: dict[str, Module]) -> str | None:
    """The module `name` is, or lies in (a.b.c.d -> a.b.c when that is a module)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _reexports(package: Module) -> dict[str, tuple[str, str]]:
    """What a package's __init__ imports at its top level: name -> (module, name there)."""
    out: dict[str, tuple[str, str]] = {}
    for node in package.tree.body:
        if isinstance(node, ast.ImportFrom):
            base = _base(package, node)
            for alias in node.names:
                out[alias.asname or alias.name] = (base, alias.name)
    return out


def _resolve(base: str, name: str, mods: dict[str, Module], seen: frozenset = frozenset()
             ) -> str | None:
    """The module that `from base import name` depends on: the submodule base.name, the
    module a package's __init__ took `name` from, or base itself."""
    if f"{base}.{name}" in mods:
        return f"{base}.{name}"
    package = mods.get(base)
    if package is not None and package.is_package and base not in seen:
        origin = _reexports(package).get(name)
        if origin is not None and _owner(origin[0], mods) is not None:
            return _resolve(origin[0], origin[1], mods, seen | {base})
    return _owner(base, mods)


def import_edges(mods: dict[str, Module]) -> list[Edge]:
    edges = []
    for module in mods.values():
        lines = module.path.read_text().splitlines()
        for node, line in _imports(module.tree):
            if isinstance(node, ast.Import):
                targets = [_owner(alias.name, mods) for alias in node.names]
            else:
                base = _base(module, node)
                targets = [_resolve(base, alias.name, mods) for alias in node.names]
            text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            for target in targets:
                if target is not None and target != module.name:
                    edges.append(Edge(module.name, target, line, text))
    return edges


def unresolved_imports(mods: dict[str, Module]) -> list[str]:
    """Imports of a module of the packages that does not exist (a lazy import left behind
    by a move fails only when its line runs)."""
    packages = {m.split(".")[0] for m in mods}
    out = []
    for module in mods.values():
        for node, line in _imports(module.tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                base = _base(module, node)
                names = [base] if base not in mods else [
                    f"{base}.{a.name}" for a in node.names
                    if mods[base].is_package and f"{base}.{a.name}" not in mods
                    and a.name not in _defined(mods[base])]
            for name in names:
                if name.split(".")[0] in packages and name not in mods:
                    out.append(f"{module.rel}:{line}: no module {name}")
    return out


def _defined(module: Module) -> set[str]:
    """Names a module binds at its top level."""
    names: set[str] = set()
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def layer_violations(mods: dict[str, Module], allowed=ALLOWED) -> list[str]:
    out: list[str] = []
    for e in import_edges(mods):
        src, dst = e.source.split(".")[0], e.target.split(".")[0]
        if src != dst and dst not in allowed.get(src, set()):
            out.append(f"{mods[e.source].rel}:{e.line}: {e.source} imports {e.target} "
                       f"({e.text})")
    return list(dict.fromkeys(out))


def import_cycles(mods: dict[str, Module]) -> list[list[str]]:
    """Circles of imports among the modules, leaving out the packages' __init__ (a package
    re-exporting its parts imports them, and they import their package's siblings)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(m for m in mods if not mods[m].is_package)
    for e in import_edges(mods):
        if not mods[e.source].is_package and not mods[e.target].is_package:
            graph.add_edge(e.source, e.target)
    return [sorted(c) for c in nx.simple_cycles(graph)]


# ---- the project -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project():
    return modules(ROOT, PACKAGES)


def test_the_packages_are_all_read(project):
    assert {"kernel_model.execution", "kernel_model.scenarios.builtin", "compare.matrix",
            "agent_model._state", "kernel_model.explore.dfs"} <= set(project)
    assert len(import_edges(project)) > 100


def test_lower_layers_never_import_compare(project):
    """kernel_model and agent_model do not import compare (nor each other)."""
    assert layer_violations(project) == []


def test_every_import_names_a_module_that_exists(project):
    assert unresolved_imports(project) == []


def test_no_import_cycles(project):
    assert import_cycles(project) == []


def test_the_old_scenario_names_are_the_same_objects():
    """compare.scenarios and compare.interleavings (imported by users) re-export the model
    layer's: one registry, not a copy."""
    import compare.interleavings
    import compare.scenarios
    import kernel_model.scenarios.builtin as builtin
    import kernel_model.scenarios.interleavings as interleavings
    from kernel_model.scenario import Actor, Flow, Poll, Scenario

    for old, new in ((compare.scenarios, builtin), (compare.interleavings, interleavings)):
        public = {n for n in dir(new) if not n.startswith("_")}
        assert public and all(getattr(old, n) is getattr(new, n) for n in public)
    compare.scenarios.register_scenario(Scenario(
        name="registered-the-old-way", description="one poll",
        flows=[Flow(cookie=1)], actors=[Actor("agent", 0, [Poll("c1")])]))
    try:
        assert "registered-the-old-way" in builtin.scenario_names()
    finally:  # the registry is the session's: leave it as it was
        del builtin._SCENARIOS["registered-the-old-way"]


# ---- the checks can fail ------------------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_a_lazy_import_up_and_a_child_program_are_layer_violations(tmp_path):
    _write(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "def f():\n    from top.x import g\n",
        "low/b.py": 'CHILD = """\nimport sys\nfrom top import x\n"""\n',
        "low/c.py": "from . import a\n",
        "top/__init__.py": "",
        "top/x.py": "from low import a\ndef g(): pass\n",
    })
    mods = modules(tmp_path, ("low", "top"))
    found = layer_violations(mods, {"top": {"low"}, "low": set()})
    assert [v.split(": ", 1)[1].split(" (")[0] for v in found] == [
        "low.a imports top.x", "low.b imports top.x"]


def test_an_import_of_a_module_that_is_not_there_is_found(tmp_path):
    _write(tmp_path, {
        "p/__init__.py": "from .a import f\n",
        "p/a.py": "def f():\n    from ._gone import g\n    from . import b, c\n",
        "p/b.py": "from p import f, h\nimport p.nothing\n",
    })
    assert [u.split(": ", 1)[1] for u in unresolved_imports(modules(tmp_path, ("p",)))] == [
        "no module p._gone", "no module p.c", "no module p.h", "no module p.nothing"]


def test_a_cycle_through_a_package_reexport_is_found(tmp_path):
    """b imports `f` from the package, which took it from a; a imports b: a circle, though
    every import of b goes through the package's __init__."""
    _write(tmp_path, {
        "p/__init__.py": "from .a import f\nfrom .b import g\n",
        "p/a.py": "from .b import g\ndef f(): pass\n",
        "p/b.py": "def g():\n    from p import f\n",
        "p/c.py": "from p import g\n",
    })
    assert import_cycles(modules(tmp_path, ("p",))) == [["p.a", "p.b"]]


def test_an_init_reexporting_its_parts_is_no_cycle(tmp_path):
    _write(tmp_path, {
        "p/__init__.py": "from .a import f\n",
        "p/a.py": "from p import b\ndef f(): pass\n",
        "p/b.py": "X = 1\n",
    })
    assert import_cycles(modules(tmp_path, ("p",))) == []
