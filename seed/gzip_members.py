"""A gzip file written as a series of members compressed on threads, as pigz does.

zlib compresses incompressible data (zipped models, pickled weights) at 30 to 40 MB/s on
one core. Cutting the stream into blocks and compressing each as a gzip member of its own
puts every core to work; the members, concatenated, are one valid gzip file that `gzip -d`,
Python's gzip module and mongorestore read as a whole. zlib releases the GIL while it works.
"""

import gzip
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

BLOCK = 4 * 1024 * 1024  # per member; a dictionary reset this rarely costs next to nothing
LEVEL = 6  # gzip's and mongodump's default


class GzipMembers:
    """Write to `out` as gzip; at most `threads` + 1 blocks are held at a time.

    `flush` completes the file so far; `close` ends the threads (and drops what was not
    flushed: call it after `flush`, or alone when the file is to be thrown away).
    """

    def __init__(self, out: BinaryIO, threads: int | None = None, block: int = BLOCK) -> None:
        self._out = out
        self._block = block
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="gzip")
        self._pending: deque[Future[bytes]] = deque()
        self._buffer = bytearray()
        self._members = 0

    def write(self, data: bytes | memoryview) -> int:
        self._buffer += data
        while len(self._buffer) >= self._block:
            self._submit(bytes(self._buffer[: self._block]))
            del self._buffer[: self._block]
        return len(data)

    def flush(self) -> None:
        """Compress and write everything written so far."""
        if self._buffer or not self._members:  # an empty file is one empty member
            self._submit(bytes(self._buffer))
            self._buffer.clear()
        while self._pending:
            self._out.write(self._pending.popleft().result())
        self._out.flush()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._pending.clear()

    def _submit(self, block: bytes) -> None:
        self._pending.append(self._pool.submit(gzip.compress, block, LEVEL, mtime=0))
        self._members += 1
        while len(self._pending) > self._threads:
            self._out.write(self._pending.popleft().result())
