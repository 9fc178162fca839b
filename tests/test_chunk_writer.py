"""The one chunk writer, as one-shot and resumable uploads use it: GridFS's layout, written a
few chunks at a time under a lease; write concern; upload slots."""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from bson import ObjectId
from flrepo.documents import chunk_writer
from flrepo.documents.chunk_writer import CHUNK_SIZE
from flrepo.documents.database import init_database
from flrepo.documents.errors import DigestMismatch, InvalidInput
from flrepo.documents.files import FileStore
from flrepo.documents.integrity import Repository, sweep
from flrepo.documents.upload_registry import COLLECTION
from flrepo.documents.uploads import UploadStore
from pymongo import WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from uploads import Bytes, Paused, read_with_gridfs


async def pieces(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 17, 20 * CHUNK_SIZE])
async def test_pymongo_gridfs_reads_what_the_writer_wrote(
    grid: AsyncDatabase, size: int, monkeypatch
):
    async def no_count(*args, **kwargs):
        raise AssertionError("an upload counts no chunks")

    monkeypatch.setattr(AsyncCollection, "count_documents", no_count)
    data = os.urandom(size)
    store = FileStore(grid, max_bytes=1 << 30)
    stored = await store.put("model/m/1", Bytes(data), sha256=hashlib.sha256(data).hexdigest())
    file_id = ObjectId(stored.id)
    monkeypatch.undo()

    assert await read_with_gridfs(grid, file_id) == data
    doc = stored.document
    assert doc["length"] == size
    assert doc["chunkSize"] == CHUNK_SIZE
    assert doc["filename"] == "model/m/1"
    assert doc["uploadDate"] is not None
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    chunks = await grid["fs.chunks"].find({"files_id": file_id}).sort("n").to_list()
    assert [c["n"] for c in chunks] == list(range(-(-size // CHUNK_SIZE)))
    assert all(set(c) == {"_id", "files_id", "n", "data"} for c in chunks)
    assert await grid[COLLECTION].count_documents({}) == 0  # no longer in progress


class Failing:
    """A FileSource that sends `before` bytes, waits for `go`, then fails."""

    content_type = None
    filename: str | None = None
    min_length = 0

    def __init__(self, before: int) -> None:
        self.data = os.urandom(before)
        self.paused = asyncio.Event()
        self.go = asyncio.Event()

    async def chunks(self) -> AsyncIterator[bytes]:
        async for piece in pieces(self.data):
            yield piece
        self.paused.set()
        await self.go.wait()
        raise ConnectionResetError("the client went away")


async def test_chunks_reach_the_database_before_the_file_ends(grid: AsyncDatabase):
    store = FileStore(grid, max_bytes=1 << 30)
    source = Failing(3 * chunk_writer.CHUNKS_PER_WRITE * CHUNK_SIZE)
    upload = asyncio.create_task(store.put("model/m/1", source))
    await source.paused.wait()
    stored = await grid["fs.chunks"].count_documents({})
    assert stored >= 2 * chunk_writer.CHUNKS_PER_WRITE  # the last write may be on its way
    assert await grid["fs.files"].count_documents({}) == 0  # not a file until it is complete
    (registered,) = await grid[COLLECTION].find({}).to_list()  # but in progress, with a lease
    assert registered["_id"] == (await grid["fs.chunks"].find_one({}))["files_id"]
    source.go.set()
    with pytest.raises(ConnectionResetError):
        await upload
    assert await grid["fs.chunks"].count_documents({}) == 0
    assert await grid[COLLECTION].count_documents({}) == 0


async def test_an_upload_is_continued_from_its_stored_chunks(grid: AsyncDatabase):
    """A second server continues what a first stored, its last chunk partial."""
    data = os.urandom(5 * CHUNK_SIZE + 1000)
    files = FileStore(grid, max_bytes=1 << 30)
    first = UploadStore(files, timedelta(hours=1))
    upload = await first.create(len(data), "strategy/s", {}, {}, None, None, None)
    upload = await first.append(upload, 0, pieces(data[: 2 * CHUNK_SIZE + 500]))
    assert upload.offset == 2 * CHUNK_SIZE + 500  # the partial chunk is stored too
    n = [c["n"] async for c in grid["fs.chunks"].find({}, {"n": 1}).sort("n")]
    assert n == [0, 1, 2]

    second = UploadStore(files, timedelta(hours=1))
    upload = await second.append(upload, upload.offset, pieces(data[upload.offset :]))
    assert upload.complete
    stored = await second.store(upload)
    assert stored.length == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_with_gridfs(grid, upload.oid) == data


async def test_an_upload_whose_lease_ran_out_and_was_swept_refuses_to_complete(
    grid: AsyncDatabase, db: AsyncDatabase
):
    store = FileStore(grid, max_bytes=1 << 30)
    source = Paused(2 * CHUNK_SIZE, 10)
    upload = asyncio.create_task(store.put("model/m/1", source))
    await source.paused.wait()
    stale = {"$set": {"expires": (await Repository(db, grid).now()) - timedelta(seconds=1)}}
    await grid[COLLECTION].update_many({}, stale)
    assert [f.kind for f in await sweep(Repository(db, grid), 3600)] == ["expired upload"]
    source.go.set()
    with pytest.raises(InvalidInput, match="stalled"):
        await upload
    assert await grid["fs.files"].count_documents({}) == 0
    assert await grid["fs.chunks"].count_documents({}) == 0


async def test_a_wrong_digest_leaves_no_file_at_any_moment(grid: AsyncDatabase, monkeypatch):
    store = FileStore(grid, max_bytes=1 << 30)
    written = []
    for method in ("insert_one", "update_one", "replace_one"):
        original = getattr(AsyncCollection, method)

        async def noting(self, *args, original=original, **kwargs):
            written.append(self.name)
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(AsyncCollection, method, noting)
    with pytest.raises(DigestMismatch):
        await store.put("model/m/1", Bytes(os.urandom(CHUNK_SIZE + 5)), sha256="0" * 64)
    assert "fs.files" not in written
    monkeypatch.undo()
    assert await grid["fs.files"].count_documents({}) == 0
    assert await grid["fs.chunks"].count_documents({}) == 0
    assert await grid[COLLECTION].count_documents({}) == 0


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
