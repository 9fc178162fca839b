"""File sources for the file store (bytes in memory, a paused upload) and a reader of what it
wrote that knows nothing of it (PyMongo's GridFS)."""

import asyncio
import os
from collections.abc import AsyncIterator

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase


class Bytes:
    """A FileSource over bytes in memory, sent in pieces of `piece` bytes."""

    content_type = "application/zip"
    filename: str | None = None
    min_length = 0

    def __init__(self, data: bytes, piece: int = 100_000) -> None:
        self.data = data
        self.piece = piece

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.piece):
            yield self.data[start : start + self.piece]


class Paused:
    """A FileSource that sends `before` bytes, waits for `go`, then sends `after` more."""

    content_type = None
    filename: str | None = None
    min_length = 0

    def __init__(self, before: int, after: int) -> None:
        self.data = os.urandom(before + after)
        self.before = before
        self.paused = asyncio.Event()
        self.go = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data[: self.before]
        self.paused.set()
        await self.go.wait()
        yield self.data[self.before :]


async def read_with_gridfs(grid: AsyncDatabase, file_id: ObjectId) -> bytes:
    """The file as PyMongo's own GridFS reads it."""
    stream = await AsyncGridFSBucket(grid).open_download_stream(file_id)
    return await stream.read()
