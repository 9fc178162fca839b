"""A resumable upload continued by other servers on the same database, and the expiry sweep."""

import asyncio
import base64
import hashlib
import os
import struct
from datetime import timedelta

import httpx
from bson import ObjectId
from flrepo.documents.integrity import Repository, sweep
from flrepo.documents.upload_registry import now
from helpers import running_app

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}
CHUNK = 255 * 1024


async def create(client: httpx.AsyncClient, length: int) -> str:
    await client.post("/model", json={"model_name": "m", "model_version": "1"})
    response = await client.post(
        "/uploads/",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": "kind bW9kZWw=,"
                 "model_name bQ==,model_version MQ=="},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.headers["location"]


async def patch(client: httpx.AsyncClient, url: str, offset: int, data: bytes) -> int:
    response = await client.patch(
        url, content=data, headers={**PATCH, "Upload-Offset": str(offset)}
    )
    assert response.status_code == 204, response.text
    return int(response.headers["upload-offset"])


async def test_three_servers_take_turns_and_the_hash_is_right(settings, mongodb_url):
    data = os.urandom(5 * CHUNK + 4321)
    cuts = [0, 100_000, 2 * CHUNK + 7, 3 * CHUNK, 4 * CHUNK + 99, len(data)]
    async with (
        running_app(settings, mongodb_url) as a,
        running_app(settings, mongodb_url) as b,
        running_app(settings, mongodb_url) as c,
    ):
        url = await create(a, len(data))
        # a begins; b continues (hashing what a stored); a again (its own hash is stale)...
        for server, start, stop in zip([a, b, a, c, b], cuts, cuts[1:], strict=False):
            assert await patch(server, url, start, data[start:stop]) == stop
        file = (await c.get("/model/m/1")).content
    assert file == data
    async with running_app(settings, mongodb_url) as d:
        response = await d.get("/model/m/1")
        assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'


def late_exploit(padding: int) -> bytes:
    """A pickle whose one dangerous global comes after `padding` bytes of data."""
    data = b"\x80\x03B" + struct.pack("<I", padding) + os.urandom(padding) + b"0"
    return data + b"cos\nsystem\n(S'echo pwned'\ntR."


async def test_the_pickle_scan_covers_every_patch_whichever_server_took_it(settings, mongodb_url):
    data = late_exploit(4 * CHUNK)
    cuts = [0, CHUNK + 5, 3 * CHUNK, 4 * CHUNK + 7, len(data) - 3, len(data)]
    async with (
        running_app(settings, mongodb_url) as a,
        running_app(settings, mongodb_url) as b,
    ):
        url = await create(a, len(data))
        # a begins; b catches up from the database; a again (what it kept is stale), then b
        for server, start, stop in zip([a, b, a, b, b], cuts, cuts[1:], strict=False):
            assert await patch(server, url, start, data[start:stop]) == stop
        response = await a.get("/model/m/1")
    assert response.content == data
    assert response.headers["x-pickle-safety"] == "DANGEROUS"


async def test_the_pickle_scan_of_one_server_sees_the_file_whole(settings, mongodb_url):
    data = late_exploit(20 * CHUNK)  # several writes per request
    async with running_app(settings, mongodb_url) as a:
        url = await create(a, len(data))
        for start in range(0, len(data), 7 * CHUNK + 1):
            stop = min(len(data), start + 7 * CHUNK + 1)
            assert await patch(a, url, start, data[start:stop]) == stop
        response = await a.get("/model/m/1")
    assert response.content == data
    assert response.headers["x-pickle-safety"] == "DANGEROUS"
    assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'


async def test_bytes_are_recorded_while_the_request_still_runs(settings, mongodb_url, grid):
    """A client slower than the database has each write's offset recorded as it lands, so
    that a server dying mid-request loses none of what it wrote."""
    data = os.urandom(12 * CHUNK)
    recorded = []

    async def body():
        yield data[: 10 * CHUNK]  # one write of its 10 chunks, then a pause
        for _ in range(100):
            doc = await grid["resumable_uploads"].find_one({})
            if doc["offset"] >= 8 * CHUNK:
                break
            await asyncio.sleep(0.05)
        recorded.append(doc["offset"])
        yield data[10 * CHUNK :]

    async with running_app(settings, mongodb_url) as a:
        url = await create(a, len(data))
        response = await a.patch(url, content=body(), headers={**PATCH, "Upload-Offset": "0"})
        assert response.status_code == 204, response.text
    assert recorded == [10 * CHUNK]


async def oid_of(grid, url: str) -> ObjectId:
    """The `_id` (of the chunks, and of the file) of the upload at `url`."""
    doc = await grid["resumable_uploads"].find_one({"tusId": url.rsplit("/", 1)[-1]})
    return doc["_id"]


async def test_two_writers_at_once_do_not_mix_their_bytes(settings, mongodb_url, grid):
    async with running_app(settings, mongodb_url) as a:
        url = await create(a, 3 * CHUNK)
        upload_id = await oid_of(grid, url)
        # a writer holds the upload (its request is still running) ...
        await grid["resumable_uploads"].update_one(
            {"_id": upload_id},
            {"$set": {"lock": "other", "lockedUntil": now() + timedelta(seconds=60)}},
        )
        busy = await a.patch(url, content=b"x", headers={**PATCH, "Upload-Offset": "0"})
        assert busy.status_code == 423
        # ... until its lease runs out without progress
        await grid["resumable_uploads"].update_one(
            {"_id": upload_id}, {"$set": {"lockedUntil": now() - timedelta(seconds=1)}}
        )
        assert await patch(a, url, 0, b"x") == 1


async def test_the_sweep_removes_expired_uploads_and_keeps_the_rest(
    settings, mongodb_url, db, grid
):
    async with running_app(settings, mongodb_url) as client:
        old = await create(client, 3 * CHUNK)
        await patch(client, old, 0, os.urandom(CHUNK + 1))
        done = await create(client, 10)
        await patch(client, done, 0, b"0123456789")  # complete: its chunks are a file now
        fresh = await create(client, 3 * CHUNK)
        await patch(client, fresh, 0, b"abc")
        late = now() + timedelta(hours=25)
        oids = {url: await oid_of(grid, url) for url in (old, done, fresh)}
        await grid["resumable_uploads"].update_one(
            {"_id": oids[fresh]}, {"$set": {"expires": late}}
        )
        repo = Repository(db, grid)
        removed = await sweep(repo, 3600, at=now() + timedelta(hours=24, minutes=1))
        assert [f.kind for f in removed] == ["expired upload"] * 2
        remaining = [d["tusId"] for d in await grid["resumable_uploads"].find({}).to_list()]
        assert remaining == [fresh.rsplit("/", 1)[-1]]

        def files_id(url: str) -> dict:
            return {"files_id": oids[url]}

        assert await grid["fs.chunks"].count_documents(files_id(old)) == 0
        assert await grid["fs.chunks"].count_documents(files_id(done)) == 1
        assert await grid["fs.chunks"].count_documents(files_id(fresh)) == 1
        assert (await client.get("/model/m/1")).content == b"0123456789"


async def test_a_target_deleted_mid_upload_discards_it(settings, mongodb_url, grid):
    async with running_app(settings, mongodb_url) as client:
        url = await create(client, 2 * CHUNK)
        await patch(client, url, 0, os.urandom(CHUNK))
        assert (await client.delete("/model/m/1")).status_code == 204
        last = await client.patch(
            url, content=os.urandom(CHUNK), headers={**PATCH, "Upload-Offset": str(CHUNK)}
        )
        assert last.status_code == 404
        assert await grid["fs.files"].count_documents({}) == 0
        assert await grid["fs.chunks"].count_documents({}) == 0
        assert await grid["resumable_uploads"].count_documents({}) == 0


async def test_filetype_is_kept_only_if_it_is_a_media_type(settings, mongodb_url, grid):
    async with running_app(settings, mongodb_url) as client:
        await client.post("/model", json={"model_name": "m", "model_version": "1"})
        for filetype, served in (("application/zip", "application/zip"), ("a/b\r\nX: 1", None)):
            encoded = base64.b64encode(filetype.encode()).decode()
            metadata = f"kind bW9kZWw=,model_name bQ==,model_version MQ==,filetype {encoded}"
            response = await client.post(
                "/uploads/", headers={**TUS, "Upload-Length": "3", "Upload-Metadata": metadata}
            )
            await patch(client, response.headers["location"], 0, b"abc")
            file = await grid["fs.files"].find_one({}, sort=[("_id", -1)])  # the newest
            assert file.get("contentType") == served
            download = await client.get(f"/files/{file['_id']}")
            assert download.headers["content-type"] == (served or "application/octet-stream")


async def test_chunks_left_by_a_writer_that_died_are_overwritten(settings, mongodb_url, grid):
    data = os.urandom(3 * CHUNK + 5)
    async with running_app(settings, mongodb_url) as client:
        url = await create(client, len(data))
        upload_id = await oid_of(grid, url)
        # a server wrote chunks 1 and 2 but died before it recorded the offset
        for n in (1, 2):
            await grid["fs.chunks"].insert_one({"files_id": upload_id, "n": n, "data": b"stale"})
        assert await patch(client, url, 0, data) == len(data)
        assert (await client.get("/model/m/1")).content == data
