"""The GridFS file store on its own: ranged chunk reads, and files with chunks missing."""

import os

import pytest
from flrepo.documents.files import CHUNKS_PER_READ, FileStore
from gridfs.errors import CorruptGridFile
from pymongo.asynchronous.database import AsyncDatabase
from uploads import Bytes


async def read(store: FileStore, file_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.stream(file_id)])


@pytest.mark.parametrize(
    "chunks", [0, 1, CHUNKS_PER_READ, CHUNKS_PER_READ + 1, 3 * CHUNKS_PER_READ]
)
async def test_stream_returns_every_byte_across_read_ranges(grid: AsyncDatabase, chunks: int):
    store = FileStore(grid, max_bytes=1 << 30)
    chunk_size = 255 * 1024
    data = os.urandom(max(0, chunks * chunk_size - 7))  # the last chunk a little short
    stored = await store.put("model/m/1", Bytes(data))
    assert stored.chunk_size == chunk_size
    assert await grid["fs.chunks"].count_documents({"files_id": stored.document["_id"]}) == chunks
    assert await read(store, stored.id) == data


async def test_a_missing_chunk_is_reported_not_skipped(grid: AsyncDatabase):
    store = FileStore(grid, max_bytes=1 << 30)
    stored = await store.put("model/m/1", Bytes(os.urandom(5 * 255 * 1024)))
    await grid["fs.chunks"].delete_one({"files_id": stored.document["_id"], "n": 2})

    received = []
    with pytest.raises(CorruptGridFile, match="missing chunk 2"):
        async for chunk in store.stream(stored.id):
            received.append(chunk)
    assert len(received) == 2  # what came before the gap, and nothing after it


async def test_a_missing_file_streams_nothing(grid: AsyncDatabase):
    store = FileStore(grid, max_bytes=1 << 30)
    assert await read(store, "0123456789abcdef01234567") == b""
    assert await read(store, "not an id") == b""
