"""The test suite's own shape: test modules share code through support modules only."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every module `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_of_the_tests_imports_a_test_module():
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 50, modules  # the suite was found
    importers = {
        str(path.relative_to(TESTS)): sorted(
            n for n in imported_modules(path) if n.startswith("test_")
        )
        for path in modules
    }
    assert {path: names for path, names in importers.items() if names} == {}
