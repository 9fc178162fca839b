"""A hung test ends the run with the stacks of the tests and of the database."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HUNG = """
import asyncio
import contextlib
from helpers import in_memory_database

pytest_plugins = ["hang_dump"]


async def wait_here():
    await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def held():
    yield
    await wait_here()


async def test_waits_forever():
    with in_memory_database():
        async with held():
            pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["in-process", "xdist"])
def test_a_hung_test_ends_the_run_with_every_stack(tmp_path: Path, workers: list[str]):
    (tmp_path / "test_hung.py").write_text(HUNG)
    tests = Path(__file__).parent
    env = {**os.environ, "FLREPO_TEST_TIMEOUT_S": "5", "PYTHONPATH": str(tests)}
    start = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            *workers,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert time.monotonic() - start < 60, output
    assert "test_hung.py::test_waits_forever still runs after 5 s" in output
    # the thread that runs the test's coroutine, the coroutine, and what it awaits
    assert "in run_until_complete" in output
    assert "line 21, in test_waits_forever" in output
    assert "line 16, in held" in output  # an async generator, where the task's chain stops
    assert "line 10, in wait_here" in output
    # SecantusDB's threads, printed by faulthandler into its log, and the log printed here
    assert "SIGABRT to" in output and "secantusd-py" in output
    assert "Fatal Python error: Aborted" in output
    assert "secantus/server.py" in output
