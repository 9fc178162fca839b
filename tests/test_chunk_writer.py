"""ChunkWriter: GridFS's layout, written a few chunks at a time; write concern; upload slots."""

import asyncio
import hashlib
import os

import pytest
from flrepo.documents import chunk_writer
from flrepo.documents.chunk_writer import CHUNK_SIZE, ChunkWriter
from flrepo.documents.database import init_database
from flrepo.documents.files import FileStore
from pymongo import WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from uploads import Paused, read_with_gridfs


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 17, 20 * CHUNK_SIZE])
async def test_pymongo_gridfs_reads_what_the_writer_wrote(grid: AsyncDatabase, size: int):
    data = os.urandom(size)
    writer = ChunkWriter(grid)
    for start in range(0, size, 100_000):
        await writer.write(data[start : start + 100_000])
    doc = await writer.close("model/m/1", {"sha256": hashlib.sha256(data).hexdigest()})

    assert await read_with_gridfs(grid, writer.file_id) == data
    assert doc["length"] == size
    assert doc["chunkSize"] == CHUNK_SIZE
    assert doc["filename"] == "model/m/1"
    assert doc["uploadDate"] is not None
    chunks = await grid["fs.chunks"].find({"files_id": writer.file_id}).sort("n").to_list()
    assert [c["n"] for c in chunks] == list(range(-(-size // CHUNK_SIZE)))
    assert all(set(c) == {"_id", "files_id", "n", "data"} for c in chunks)
    assert await grid["fs.uploads"].count_documents({}) == 0  # the claim is gone


async def test_chunks_reach_the_database_before_the_file_ends(grid: AsyncDatabase):
    writer = ChunkWriter(grid)
    piece = os.urandom(CHUNK_SIZE)
    for _ in range(3 * chunk_writer.CHUNKS_PER_INSERT):
        await writer.write(piece)
    stored = await grid["fs.chunks"].count_documents({"files_id": writer.file_id})
    assert stored >= 2 * chunk_writer.CHUNKS_PER_INSERT  # the last insert may be on its way
    assert await grid["fs.files"].count_documents({}) == 0  # not a file until it is closed
    assert await grid["fs.uploads"].find_one({"_id": writer.file_id})  # but claimed
    await writer.abort()
    assert await grid["fs.chunks"].count_documents({}) == 0
    assert await grid["fs.uploads"].count_documents({}) == 0


async def test_a_writer_continues_an_upload_from_its_stored_chunks(grid: AsyncDatabase):
    data = os.urandom(5 * CHUNK_SIZE + 1000)
    first = ChunkWriter(grid)
    await first.write(data[: 2 * CHUNK_SIZE + 500])
    await first.flush()
    assert first.n == 2  # whole chunks only; the 500 bytes were not stored

    second = ChunkWriter(grid, file_id=first.file_id, n=first.n)
    await second.write(data[2 * CHUNK_SIZE :])
    doc = await second.close("strategy/s")
    assert doc["length"] == len(data)
    assert await read_with_gridfs(grid, first.file_id) == data


async def test_a_writer_whose_chunks_were_swept_refuses_to_close(grid: AsyncDatabase):
    writer = ChunkWriter(grid, chunks_per_insert=1)
    await writer.write(os.urandom(2 * CHUNK_SIZE))
    await grid["fs.chunks"].delete_many({"files_id": writer.file_id})
    with pytest.raises(Exception, match="stalled"):
        await writer.close("model/m/1")
    assert await grid["fs.files"].count_documents({}) == 0


async def test_writes_are_journaled_by_default_and_acknowledged_on_request(mongo, settings):
    files = await init_database(mongo, settings.db_name, settings.grid_db_name, 1 << 20)
    # SecantusDB presents itself as a one-node replica set
    assert files.db.write_concern == WriteConcern(w="majority", j=True)
    assert files.transactions
    fast = await init_database(
        mongo, settings.db_name, settings.grid_db_name, 1 << 20, write_concern="acknowledged"
    )
    assert fast.db.write_concern == WriteConcern(w=1)


async def test_uploads_beyond_the_limit_wait_for_a_slot(grid: AsyncDatabase):
    store = FileStore(grid, max_bytes=1 << 30, max_concurrent_uploads=1)
    first, second = Paused(2 * CHUNK_SIZE, 10), Paused(10, 10)
    second.go.set()
    first_task = asyncio.create_task(store.put("a", first))
    await first.paused.wait()
    second_task = asyncio.create_task(store.put("b", second))
    await asyncio.sleep(0.3)
    assert not second.paused.is_set()  # not one byte of it read while the slot is taken
    first.go.set()
    a, b = await asyncio.gather(first_task, second_task)
    assert (a.length, b.length) == (len(first.data), len(second.data))
