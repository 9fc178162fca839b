"""Each caller's share of the server's uploads, and the wait for an upload's next bytes.

The server receives at most `total` uploads at once (others wait their turn), and one
caller (a token, else a client address: its `key`) at most `per_caller` of them: past its
share a caller is refused at once, so that a few callers cannot hold every slot.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from flrepo.documents.errors import TooManyRequests, UploadIdle

GIB = 1024**3
BUSY_RETRY_S = 5  # a caller past its share of uploads at once is told to wait this long


@dataclass(frozen=True)
class UploadShares:
    """What one caller may make the server hold, and how long an upload may stall."""

    uploads_per_caller: int | None = None  # None: a quarter of the server's upload slots
    idle_timeout_s: float = 60.0  # an upload receiving no bytes this long is dropped
    unfinished_per_caller: int = 100  # resumable uploads not yet complete
    unfinished_bytes_per_caller: int = 64 * GIB  # the sum of their Upload-Length
    kept_scans: int = 64  # unfinished uploads whose hash and scan are kept in memory
    scan_threads: int | None = None  # None: as many as the process may use cores
    scan_threads_per_caller: int = 1


class UploadSlots:
    """The server's upload budget, of which one caller holds at most `per_caller` slots."""

    def __init__(self, total: int, per_caller: int | None = None) -> None:
        self.total = total
        self.per_caller = per_caller or max(1, total // 4)
        self._free = asyncio.Semaphore(total)
        self._held: Counter[str] = Counter()  # slots held or awaited, by caller

    @contextlib.asynccontextmanager
    async def hold(self, key: str = "") -> AsyncIterator[None]:
        """A slot for the block, once one is free; TooManyRequests at once if `key` holds
        (or awaits) its share already. The empty key (no caller: the server's own work)
        has no share but the budget."""
        if key and self._held[key] >= self.per_caller:
            raise TooManyRequests(
                f"this caller has {self.per_caller} uploads in progress already; finish one first",
                BUSY_RETRY_S,
            )
        self._held[key] += 1
        try:
            async with self._free:
                yield
        finally:
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]

    def held(self, key: str) -> int:
        return self._held.get(key, 0)


async def arriving(body: AsyncIterator[bytes], idle_timeout_s: float) -> AsyncIterator[bytes]:
    """`body`'s pieces, as long as each comes within `idle_timeout_s` of the last; else
    UploadIdle (what came before is the caller's to keep or discard)."""
    pieces = aiter(body)
    try:
        while True:
            try:
                async with asyncio.timeout(idle_timeout_s):
                    piece = await anext(pieces)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UploadIdle(
                    f"no bytes arrived for {idle_timeout_s:g} s; the upload was given up"
                ) from None
            yield piece
    finally:
        close = getattr(pieces, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
