"""The import rules hold: import-linter's contracts in pyproject.toml, and what they cannot say.

import-linter reads the package as installed, one folder below `flrepo`; the checkout maps
top-level folders into that namespace (`package-dir`), so the package is laid out as a wheel
would lay it out, in a temporary folder, and checked there.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def installed_layout(into: Path) -> Path:
    """The `flrepo` package as installed, copied from the checkout into `into`."""
    package_dirs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(package_dirs.items()):  # parents before their children
        shutil.copytree(
            ROOT / folder,
            into.joinpath(*package.split(".")),
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "static"),
        )
    return into


def test_import_contracts_are_kept(tmp_path):
    staged = installed_layout(tmp_path)
    result = subprocess.run(
        [Path(sys.executable).parent / "lint-imports", str(PYPROJECT), "--no-cache"],
        cwd=staged,
        env={"PYTHONPATH": str(staged), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert "0 broken" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


def test_the_contracts_see_every_part(tmp_path):
    """A contract that names a package the copy lacks would check nothing of it."""
    staged = installed_layout(tmp_path)
    parts = (
        "documents",
        "graph",
        "operations",
        "rest_compat",
        "rest_runs",
        "scanner",
        "seed",
        "transfer",
        "tus",
    )
    for part in parts:
        assert (staged / "flrepo" / part / "__init__.py").is_file(), part


def test_nothing_but_flrepo_is_importable_outside_the_checkout(tmp_path):
    """The parts install under `flrepo` only; generic names stay free for other projects."""
    for name, expected in [("flrepo.graph.schema", 0), ("documents", 1), ("graph", 1)]:
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True
        )
        assert result.returncode == expected, (name, result.stderr)


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
