"""The import closure of a stage script inside src/factory, and its check against dvc.yaml.

Shared by tests/test_dvc_deps.py (deps = closure) and tests/test_pipeline.py (touching a
module marks exactly its importers as changed in `dvc status`). Read with `ast`, not by
importing: that would pull in torch, and would miss imports inside functions that a given
run does not reach. Imports inside functions count; `if TYPE_CHECKING:` blocks do not.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "factory"


def module_file(name: str) -> Path | None:
    """The source file of project module `name` (a package's __init__.py), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE or not all(part.isidentifier() for part in parts):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(name: str) -> list[str]:
    """`import a.b.c` runs a/__init__, a/b/__init__ and a/b/c."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _nodes(tree: ast.AST):
    """Every node, except what sits under `if TYPE_CHECKING:` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if _is_type_checking(node):
            stack.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "import_module"


@functools.cache
def direct_imports(path: Path) -> frozenset[str]:
    """Project modules that `path` imports anywhere in its code (with their packages).

    `importlib.import_module("factory.x")` counts; when the name is computed, every
    string constant of the file that names a project module counts (conservatively).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    importer = module_name(path) if path.is_relative_to(SRC) else ""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    dynamic = False
    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(node, importer, is_package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif _is_import_module_call(node):
            arg = node.args[0] if node.args else None  # type: ignore[attr-defined]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            else:
                dynamic = True
    if dynamic:
        found.update(
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and module_file(n.value)
        )
    project = {m for name in found for m in _with_parents(name) if m.split(".")[0] == PACKAGE}
    return frozenset(m for m in project if module_file(m))


def import_closure(script: Path) -> set[Path]:
    """Source files under src/factory that running `script` may import, transitively."""
    seen: set[Path] = set()
    todo = [module_file(m) for m in direct_imports(script)]
    while todo:
        path = todo.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(module_file(m) for m in direct_imports(path))
    return seen


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def py_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def dep_problems(name: str, stage: dict) -> list[str]:
    """Every code dep of `stage` that is missing or not imported, as readable lines."""
    script = ROOT / "stages" / f"{name}.py"
    closure = import_closure(script)
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
    code = [ROOT / d.rstrip("/") for d in deps if d.startswith("src/")]
    covered: set[Path] = set()
    problems = []
    if rel(script) not in deps:
        problems.append(f"{name}: its script {rel(script)} is not a dep")
    for dep in code:
        listed = py_files(dep) if dep.is_dir() else {dep}
        if not dep.exists():
            problems.append(f"{name}: dep {rel(dep)} does not exist")
        unused = sorted(rel(p) for p in listed - closure)
        if unused:
            what = f"folder {rel(dep)} holds modules" if dep.is_dir() else "dep"
            problems.append(f"{name}: {what} the stage does not import: {', '.join(unused)}")
        covered |= listed
    for path in sorted(closure - covered):
        problems.append(f"{name}: imports {rel(path)}, which is not a dep")
    return problems


def importers(module: Path) -> set[str]:
    """The stages whose script imports `module` (a file under src/factory)."""
    return {n for n in stages() if module in import_closure(ROOT / "stages" / f"{n}.py")}
