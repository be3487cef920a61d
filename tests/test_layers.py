"""The floors of docs/ARCHITECTURE.md hold in the code: no import cycle among the project's
modules, and no function-local import of the project's own modules except the few listed below
(each says why it must run late). import-linter's contracts (pyproject.toml) check the floors;
these check what a contract cannot: cycles inside a floor, and imports hidden in functions."""

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("clinician", "couples", "cyclecare")

# (module, imported module): a function-local import that is not there to dodge a cycle.
LATE_IMPORTS_ALLOWED = {
    # AppConfig.ready(): what needs the app registry (models, signals, checks, tasks) loads once
    # it is ready.
    ("clinician.apps", "clinician.api.schema"),
    ("clinician.apps", "clinician.audit"),
    ("clinician.apps", "clinician.logging"),
    ("cyclecare.apps", "clinician.events"),
    ("cyclecare.apps", "cyclecare.checks"),
    ("cyclecare.apps", "cyclecare.tasks"),
    ("cyclecare.apps", "cyclecare.webhooks"),
    ("cyclecare.apps", "cyclecare.reminders.holds"),
    ("cyclecare.apps", "cyclecare.erasure"),
    # A post_migrate receiver, defined at import time of apps.py, runs after migrations.
    ("cyclecare.apps", "cyclecare.models"),
    ("cyclecare.apps", "cyclecare.services"),
}


def _modules() -> list[Path]:
    return [
        path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _resolve(node: ast.ImportFrom | ast.Import, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names (``from a import b`` names ``a.b`` when that is a
    module of the project, else ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, node.module] if node.module else parts)
    return [f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base for alias in node.names]


def late_imports() -> set[tuple[str, str]]:
    """(module, imported) for every import of a project module inside a function."""
    found = set()
    for path in _modules():
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for imported in _resolve(node, module, path.name == "__init__.py"):
                        if imported.split(".")[0] in PACKAGES:
                            found.add((module, imported))
    return found


def test_no_function_local_import_dodges_a_cycle():
    unexpected = sorted(late_imports() - LATE_IMPORTS_ALLOWED)
    assert unexpected == [], "import these at module level (or say in LATE_IMPORTS_ALLOWED why not)"


def test_the_allow_list_names_only_imports_that_exist():
    assert sorted(LATE_IMPORTS_ALLOWED - late_imports()) == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph.modules:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_import_cycle_among_the_projects_modules():
    # Every import counts, function-local ones too: hiding an import in a function does not
    # make the dependency go away.
    assert _cycles(grimp.build_graph(*PACKAGES, cache_dir=None)) == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other are found."""
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("def f():\n    from loop import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("loop", cache_dir=None)) == [["loop.a", "loop.b"]]
