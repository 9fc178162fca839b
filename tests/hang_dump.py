"""A test still running after `FLREPO_TEST_TIMEOUT_S` (default 600) ends the whole run, with
the stacks of every thread here and of the Python processes the tests started.

A test run that hangs otherwise says nothing until CI gives up on it. Child processes inherit
PYTHONFAULTHANDLER, so SIGABRT makes each print its threads before it ends; the in-memory
database writes its output to a file (`LOGS`), printed here after the signal.

PYTEST_DONT_REWRITE: the helpers import this module before pytest could.
"""

import asyncio
import contextlib
import gc
import os
import signal
import sys
import threading
import time
import traceback
import types
from pathlib import Path
from typing import Any

import psutil
import pytest
from pymongo import AsyncMongoClient, MongoClient

TIMEOUT_S = float(os.environ.get("FLREPO_TEST_TIMEOUT_S", "600"))
LOGS: list[Path] = []  # output files of the processes started for the whole run
FRAMES = ("cr_frame", "gi_frame", "ag_frame")  # of a coroutine, generator, async generator
AWAITS = ("cr_await", "gi_yieldfrom", "ag_await")  # what each waits for
SKIPPED = ("/_pytest/", "/pluggy/", "/threading.py", "<frozen runpy>", "/pytest/__main__.py")

os.environ.setdefault("PYTHONFAULTHANDLER", "1")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    timer = threading.Timer(TIMEOUT_S, _stuck, args=(item,))
    timer.daemon = True
    timer.start()
    try:
        return (yield)
    finally:
        timer.cancel()


def _stuck(item: pytest.Item) -> None:
    """Print where everything is, then end the run (the test's own thread cannot be stopped).

    What the test waits for comes last, as the end of a CI log is what is shown of it.
    """
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    err = sys.stderr
    try:
        here = _report(item)  # before the children stop: the clients' view of them is news
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "python" in Path(child.exe()).name:
                    err.write(f"SIGABRT to {child.pid}: {' '.join(child.cmdline())[:200]}\n")
                    child.send_signal(signal.SIGABRT)
        time.sleep(2)
        for log in LOGS:
            err.write(f"\n--- the end of {log}:\n")
            err.write(_short(log.read_text(errors="replace")[-20_000:]))
        err.write(here)
    except BaseException:
        traceback.print_exc(file=err)
    finally:
        err.flush()
        os._exit(1)


def _report(item: pytest.Item) -> str:
    """This process: its threads, its MongoDB clients' view of the servers, and where each
    asyncio task (and each async generator running) waits."""
    lines = [f"\n--- {item.nodeid} still runs after {TIMEOUT_S:.0f} s. Its threads:\n"]
    for thread_id, frame in sys._current_frames().items():
        if thread_id != threading.get_ident():
            lines.append(f"thread {thread_id}:\n{_short(''.join(traceback.format_stack(frame)))}")
    # type(), not isinstance(): this sees every object, dead weak proxies among them
    objects = gc.get_objects()
    lines.append("Its MongoDB clients, as their drivers see the servers:\n")
    for client in [o for o in objects if issubclass(type(o), (AsyncMongoClient, MongoClient))]:
        lines.append(f"{client.topology_description!r}\n")
    lines.append("Its tasks:\n")
    for loop in [o for o in objects if issubclass(type(o), asyncio.AbstractEventLoop)]:
        if loop.is_running():
            for task in asyncio.all_tasks(loop):
                lines.append(f"task {task.get_name()}:\n{_short(_awaits(task.get_coro()))}")
    lines.append("Its async generators running (a task's chain of awaits stops at them):\n")
    for gen in [o for o in objects if issubclass(type(o), types.AsyncGeneratorType)]:
        if gen.ag_running:
            lines.append(f"{gen.__qualname__}:\n{_short(_awaits(gen))}")
    return "".join(lines)


def _awaits(coro: Any) -> str:
    """Where a coroutine waits: each frame of its chain of awaits (through async generators),
    outermost first. The chain stops at an awaited task or future: they keep no frames."""
    frames = []
    while coro is not None:
        frame = next((getattr(coro, a) for a in FRAMES if getattr(coro, a, None)), None)
        if frame is not None:
            frames.append(frame)
        coro = next((getattr(coro, a) for a in AWAITS if getattr(coro, a, None)), None)
    return "".join(
        traceback.format_list(
            [(f.f_code.co_filename, f.f_lineno, f.f_code.co_name, "") for f in frames]
        )
    )


def _short(stack: str) -> str:
    """`stack` without the frames of pytest, pluggy and threading, which every stack has."""
    lines, skip = [], False
    for line in stack.splitlines(keepends=True):
        if line.lstrip().startswith("File "):
            skip = any(part in line for part in SKIPPED)
        elif not line.startswith(" "):  # a heading, not the source line of a frame
            skip = False
        if not skip:
            lines.append(line)
    return "".join(lines)
