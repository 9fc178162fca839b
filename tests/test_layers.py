"""The installed package's imports run one way: no circle, nothing lower importing higher.

From the top: the command line; the app and its commands; the two faces (GraphQL, REST);
the operations (resolvers), the HTTP plumbing both faces share, and seeding; at the bottom
the documents, the file store and the settings; below them the pickle scanner, which imports
nothing of ours.
"""

import ast
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [  # (layer, module prefixes), bottom first; the longest matching prefix decides
    ("scanner", ["flrepo.scanner"]),
    ("bottom", ["flrepo.documents", "flrepo.settings"]),
    ("operations", ["flrepo.operations", "flrepo.operations.validation", "flrepo.transfer"]),
    ("operations", ["flrepo.seed"]),
    ("faces", ["flrepo.graph", "flrepo.rest_compat", "flrepo.tus"]),
    ("app", ["flrepo"]),
    ("cli", ["flrepo.cli"]),
]
RANK = {"scanner": 0, "bottom": 1, "operations": 2, "faces": 3, "app": 4, "cli": 5}


def layer(module: str) -> str:
    matches = [
        (len(prefix), name)
        for name, prefixes in LAYERS
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer"
    return max(matches)[1]


def installed_modules() -> dict[str, Path]:
    """Every module of the packages pyproject installs, found where the import system finds it."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    modules = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec and spec.submodule_search_locations, package
        folder = Path(next(iter(spec.submodule_search_locations)))
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def imports(path: Path, module: str, modules: set[str]) -> list[tuple[str, bool]]:
    """(imported module of `modules`, whether the import sits inside a function) of one file."""
    found = []
    package = module if path.stem == "__init__" else module.rpartition(".")[0]

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1])
                    base = f"{base}.{child.module}" if child.module else base
                for alias in child.names:  # a module by name, else a name from `base`
                    name = f"{base}.{alias.name}"
                    found.append((name if name in modules else base, inner))
            elif isinstance(child, ast.Constant) and child.value in modules:
                found.append((child.value, False))  # imported later by name (the CLI's commands)
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return [(name, nested) for name, nested in found if name in modules]


def graph() -> dict[str, set[str]]:
    modules = installed_modules()
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {name for name, _ in imports(path, module, set(modules))}
        edges[module] = targets - {module}
    return edges


def test_the_package_holds_every_part():
    modules = installed_modules()
    for part in ("documents", "graph", "operations", "rest_compat", "seed", "transfer"):
        assert f"flrepo.{part}" in modules
    assert len(modules) > 40


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = [
        f"{module} ({layer(module)}) imports {target} ({layer(target)})"
        for module, targets in graph().items()
        for target in targets
        if RANK[layer(target)] > RANK[layer(module)]
    ]
    assert upward == []


def test_no_circle():
    edges = graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    circles = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module, [module])
    assert circles == []


def test_no_import_of_our_own_modules_inside_a_function():
    modules = installed_modules()
    hidden = [
        f"{module}: {name}"
        for module, path in modules.items()
        for name, nested in imports(path, module, set(modules))
        if nested
    ]
    assert hidden == []


def test_package_inits_import_nothing_of_ours():
    """Importing a low module never drags in the package above it."""
    modules = installed_modules()
    for module, path in modules.items():
        if path.stem == "__init__":
            assert imports(path, module, set(modules)) == [], module


def test_nothing_but_flrepo_is_importable_outside_the_checkout(tmp_path):
    """The parts install under `flrepo` only; generic names stay free for other projects."""
    for name, expected in [("flrepo.graph.schema", 0), ("documents", 1), ("graph", 1)]:
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True
        )
        assert result.returncode == expected, (name, result.stderr)


def test_the_scanner_imports_neither_storage_nor_http():
    """The scanner is fed bytes and judges them; no database or web library comes with it."""
    outside = ("pymongo", "bson", "gridfs", "beanie", "starlette", "fastapi", "strawberry")
    scanner = sorted(m for m in installed_modules() if layer(m) == "scanner")
    script = (
        f"import sys, {', '.join(scanner)}; "
        f"print(sorted(m for m in sys.modules if m.partition('.')[0] in {outside!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_commands_other_than_serve_do_not_import_the_web_application():
    web = ("flrepo.app", "flrepo.graph.schema", "strawberry", "fastapi", "uvicorn")
    script = (
        "import sys; from flrepo.cli.main import build_parser; build_parser(); "
        f"print(sorted(m for m in sys.modules if m.startswith({web!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
