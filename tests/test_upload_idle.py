"""Uploads whose bytes stop arriving are dropped after FLREPO_UPLOAD_IDLE_TIMEOUT_S and free
their slot: a one-shot upload (REST, GraphQL) fails with 408 leaving nothing; a tus PATCH ends
with 408 keeping what arrived, and the upload can be resumed."""

import asyncio
import time

from callers import Stalling, caller, make_model, multipart, serving, tus_create, tus_patch
from helpers import grid_counts, upload_request

IDLE = 0.5


async def test_a_stalled_put_is_dropped_leaving_nothing_and_freeing_its_slot(
    settings, mongodb_url, grid
):
    async with (
        serving(settings, mongodb_url, upload_idle_timeout_s=IDLE, uploads_per_caller=1) as app,
        caller(app) as a,
    ):
        await make_model(a, "m")
        before = await grid_counts(grid)
        body = Stalling(b"x" * 300_000)
        headers, content = multipart(body)
        started = time.monotonic()
        answer = await a.put("/model/m/1", content=content, headers=headers)
        body.release.set()
        assert answer.status_code == 408, answer.text
        assert "no bytes arrived" in answer.json()["detail"]
        assert time.monotonic() - started < IDLE + 5
        assert await grid_counts(grid) == before  # no file, no chunks
        assert await grid["resumable_uploads"].count_documents({}) == 0
        assert (await a.get("/model/m/1")).status_code == 404  # no file attached
        # the caller's one slot is free again
        headers, content = multipart([b"y" * 1000])
        assert (await a.put("/model/m/1", content=content, headers=headers)).status_code == 204


async def test_a_stalled_graphql_upload_gets_a_coded_error(settings, mongodb_url, grid):
    async with serving(settings, mongodb_url, upload_idle_timeout_s=IDLE) as app, caller(app) as a:
        await make_model(a, "m")
        before = await grid_counts(grid)
        stall = Stalling(b"x" * 1000)
        query = (
            "mutation($file: Upload!) "
            '{ uploadModelFile(modelName: "m", modelVersion: "1", file: $file) { modelName } }'
        )
        headers, pieces = upload_request(query, {}, [b"head"], close=False)

        async def body():
            for piece in pieces:
                if piece == b"head":
                    async for part in stall:
                        yield part
                else:
                    yield piece

        response = await a.post("/graphql", content=body(), headers=headers)
        stall.release.set()
        assert response.status_code == 200
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "REQUEST_TIMEOUT"
        assert await grid_counts(grid) == before


async def test_a_stalled_tus_patch_keeps_what_arrived_and_stays_resumable(settings, mongodb_url):
    data = bytes(range(256)) * 2000
    async with (
        serving(settings, mongodb_url, upload_idle_timeout_s=IDLE, uploads_per_caller=1) as app,
        caller(app) as a,
    ):
        await make_model(a, "m")
        url = (await tus_create(a, "m", len(data))).headers["location"]
        stall = Stalling(data[:300_000])
        answer = await tus_patch(a, url, 0, stall)
        stall.release.set()
        assert answer.status_code == 408, answer.text
        head = await a.head(url, headers={"Tus-Resumable": "1.0.0"})
        assert head.status_code == 200
        assert int(head.headers["upload-offset"]) == 300_000
        done = await tus_patch(a, url, 300_000, data[300_000:])  # the slot is free again
        assert done.status_code == 204, done.text
        assert (await a.get("/model/m/1")).content == data


async def test_slow_but_steady_bytes_are_not_idle(settings, mongodb_url):
    async def trickle():
        for _ in range(4):
            yield b"z" * 10
            await asyncio.sleep(IDLE / 2)

    async with serving(settings, mongodb_url, upload_idle_timeout_s=IDLE) as app, caller(app) as a:
        await make_model(a, "m")
        headers, content = multipart([])

        async def body():
            async for piece in content:
                yield piece
                if piece.startswith(b"--") and b"filename" in piece:
                    async for part in trickle():
                        yield part

        answer = await a.put("/model/m/1", content=body(), headers=headers)
        assert answer.status_code == 204, answer.text
        assert (await a.get("/model/m/1")).content == b"z" * 40
