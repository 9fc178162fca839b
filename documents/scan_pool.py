"""The threads that hash and scan uploads, shared fairly among callers.

Hashing and pickle scanning take CPU time in proportion to the bytes; on the event loop's
default pool (`asyncio.to_thread`), one caller's several large uploads would take every
thread and queue everyone else's behind them. Here the pool is sized to the cores and a
caller holds at most `per_caller` of its threads at once: its further work waits in its
own queue, so another caller's work gets a thread as soon as one is free.
"""

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


class ScanPool:
    """A thread pool of `threads` (default: the usable cores, at least 2), `per_caller` of
    them for one caller at a time."""

    def __init__(self, threads: int | None = None, per_caller: int = 1) -> None:
        self.threads = threads or max(2, usable_cores())
        self.per_caller = max(1, per_caller)
        self._executor: ThreadPoolExecutor | None = None
        self._shares: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}  # tasks running or waiting, by caller

    async def run(self, key: str, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on a thread of the pool, once `key` holds fewer than its share.

        A call cancelled while its work runs keeps the caller's thread until it ends."""
        share = self._shares.setdefault(key, asyncio.Semaphore(self.per_caller))
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with share:
                running = self._pool().submit(work, *args)
                done = asyncio.wrap_future(running)
                try:
                    return await asyncio.shield(done)
                except asyncio.CancelledError:
                    if not running.cancel():
                        await asyncio.wait([done])
                    raise
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._shares[key]

    def busy(self, key: str) -> int:
        """Tasks of `key` running or waiting."""
        return self._users.get(key, 0)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="scan")
        return self._executor
