"""The package's layout: no module imports another that (directly or through others)
imports it back. Every import counts, at module level or inside a function, because a
function-level import only hides a circle from the interpreter, not from a reader."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "rendercli"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(known: set[str], name: str) -> str | None:
    """The longest known module that `name` is or lies in (`a.b.func` -> `a.b`)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # `from a import b` may import module a.b, or take name b from module a.
            targets = [f"{source}.{alias.name}" for alias in node.names] + [source]
            targets = [t for t in targets[:-1] if t in known] or [source]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != PACKAGE:
                continue
            resolved = _resolve(known, target)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    found.append(sorted(component))
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    renders = "rendercli.services.renders"
    # module level: `from pkg import module` and `from module import name`
    assert {"rendercli.repositories.jobs", f"{renders}.dispatch", f"{renders}.tasks",
            f"{renders}.views"} <= graph[f"{renders}.lifecycle"]
    # inside a function (views loads tasks only for `jobs logs`)
    assert f"{renders}.tasks" in graph[f"{renders}.views"]
    # relative imports resolve against the importing module's package
    fake = {"rendercli.a", "rendercli.a.b", "rendercli.a.c", "rendercli.d"}
    source = "from . import c\ndef f():\n    from ..d import thing\n"
    assert _imports_from_source("rendercli.a.b", "b.py", source, fake) == {
        "rendercli.a.c", "rendercli.d"}
    assert _imports_from_source("rendercli.a", "__init__.py", "from .b import x\n",
                                fake) == {"rendercli.a.b"}
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def _imports_from_source(module: str, filename: str, source: str, known: set[str]
                         ) -> set[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / filename
        file.write_text(source, encoding="utf-8")
        return imports_of(module, file, known)


def test_no_import_circles() -> None:
    graph = import_graph()
    found = circles(graph)
    report = []
    for component in found:
        report.append("  circle: " + ", ".join(component))
        report += [f"    {a} imports {b}" for a in component for b in sorted(graph[a])
                   if b in component]
    assert not found, "modules that import each other:\n" + "\n".join(report)


def test_services_and_data_never_reach_into_this_machine() -> None:
    """The keyring and the credentials file are the CLI's: a service or a data module
    that read them would act on whatever this machine holds, not on what it is given."""
    graph = import_graph()
    lower = [m for m in graph if m.startswith(("rendercli.services", "rendercli.repositories",
                                                "rendercli.db"))]
    reaching = sorted(m for m in lower if "rendercli.credentials" in graph[m])
    assert not reaching, f"import rendercli.credentials: {reaching}"


def test_repositories_sit_below_the_services() -> None:
    graph = import_graph()
    upward = sorted(f"{m} imports {t}" for m in graph if m.startswith("rendercli.repositories")
                    for t in graph[m] if t.startswith(("rendercli.services", "rendercli.cli")))
    assert not upward, "\n".join(upward)


def _external_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_one_data_path_for_accounts_projects_and_events() -> None:
    """These are read and written in plain SQL over `Rows` (rendercli.repositories), not
    through the ORM: SQLAlchemy stays for the schema."""
    modules = all_modules()
    graph = import_graph()
    plain = [m for m in modules if m.startswith("rendercli.repositories")] + [
        f"rendercli.services.{m}" for m in ("accounts", "identity", "stats", "demo",
                                            "analytics")]
    orm = sorted(m for m in plain if "rendercli.db.models" in graph[m]
                 or "sqlalchemy" in _external_imports(modules[m]))
    assert not orm, f"use the ORM: {orm}"


def test_storage_judges_no_media() -> None:
    """Storage keeps bytes; checking and probing input files is the media layer's job
    (rendercli.media imports storage, never the other way)."""
    media = sorted(m for m in import_graph()["rendercli.storage"]
                   if m.startswith("rendercli.media"))
    assert media == [], f"rendercli.storage imports {media}"


def test_timeline_services_use_plain_sql_only() -> None:
    """Items, titles and texts are read and written in plain SQL through
    rendercli.repositories.items: their services hold no ORM session, model or query."""
    root = Path(__file__).parents[1] / "rendercli"
    for name in ("services/assets.py", "services/titles.py", "services/texts.py",
                 "repositories/items.py"):
        source = (root / name).read_text()
        tree = ast.parse(source)
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert not {m for m in imported if m.startswith("sqlalchemy")
                    or m == "rendercli.db.models"}, name
        assert ".session" not in source and "select(" not in source, name
