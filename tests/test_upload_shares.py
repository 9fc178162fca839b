"""Each caller's share of the uploads at once (REST, GraphQL and tus alike) and of unfinished
resumable uploads (by count and by bytes, counted in the database: replicas agree)."""

import asyncio

import httpx
from callers import (
    Stalling,
    caller,
    make_model,
    make_token,
    multipart,
    serving,
    tus_create,
    tus_patch,
)
from helpers import upload_request

UPLOAD = (
    "mutation($file: Upload!, $n: String!) "
    '{ uploadModelFile(modelName: $n, modelVersion: "1", file: $file) { modelName } }'
)


async def put(client: httpx.AsyncClient, model: str, body) -> httpx.Response:
    headers, content = multipart(body)
    return await client.put(f"/model/{model}/1", content=content, headers=headers)


async def graphql_upload(client: httpx.AsyncClient, model: str, data: bytes) -> dict:
    headers, pieces = upload_request(UPLOAD, {"n": model}, data)

    async def body():
        for piece in pieces:
            yield piece

    response = await client.post("/graphql", content=body(), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_caller_past_its_share_of_uploads_at_once_is_refused_on_every_face(
    settings, mongodb_url
):
    async with (
        serving(settings, mongodb_url, uploads_per_caller=2) as app,
        caller(app, "10.0.0.1") as a,
        caller(app, "10.0.0.2") as b,
    ):
        token = await make_token(a, "t-share")
        for name in ("m0", "m1", "m2", "m3"):
            await make_model(a, name)
        stalled = [Stalling(b"x" * 1000, b"y" * 1000) for _ in range(2)]
        held = [asyncio.create_task(put(a, f"m{i}", body)) for i, body in enumerate(stalled)]
        await asyncio.wait_for(asyncio.gather(*(s.sent.wait() for s in stalled)), 10)
        await asyncio.sleep(0.2)  # both are in the file store now

        refused = await put(a, "m2", [b"z" * 100])
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 0
        body = await graphql_upload(a, "m2", b"z" * 100)
        assert body["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
        assert body["errors"][0]["extensions"]["retryAfter"] > 0
        created = await tus_create(a, "m3", 10)
        assert created.status_code == 201
        patched = await tus_patch(a, created.headers["location"], 0, b"0123456789")
        assert patched.status_code == 429 and "retry-after" in patched.headers

        # another address, and a token from the same address, have shares of their own
        assert (await put(b, "m2", [b"b" * 100])).status_code == 204
        async with caller(app, "10.0.0.1", token) as t:
            assert (await put(t, "m3", [b"t" * 100])).status_code == 204

        for body in stalled:
            body.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [204, 204]
        assert (await put(a, "m2", [b"a" * 100])).status_code == 204  # room again
        assert (await a.get("/model/m2/1")).content == b"a" * 100


async def test_unfinished_resumable_uploads_are_counted_across_replicas(settings, mongodb_url):
    async with (
        serving(settings, mongodb_url, tus_uploads_per_caller=3) as one,
        serving(settings, mongodb_url, tus_uploads_per_caller=3) as two,
        caller(one, "10.0.0.1") as a1,
        caller(two, "10.0.0.1") as a2,
        caller(two, "10.0.0.2") as b,
    ):
        await make_model(a1, "m")
        urls = [(await tus_create(c, "m", 100)).headers["location"] for c in (a1, a2, a1)]
        for client in (a1, a2):
            refused = await tus_create(client, "m", 100)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) > 0
        assert (await tus_create(b, "m", 100)).status_code == 201  # another caller's share

        # a finished upload no longer counts; nor does a deleted one
        assert (await tus_patch(a2, urls[0], 0, b"0" * 100)).status_code == 204
        assert (await tus_create(a1, "m", 100)).status_code == 201
        assert (await tus_create(a2, "m", 100)).status_code == 429
        assert (await a2.delete(urls[1], headers={"Tus-Resumable": "1.0.0"})).status_code == 204
        assert (await tus_create(a2, "m", 100)).status_code == 201


async def test_the_bytes_reserved_by_unfinished_uploads_are_bounded(settings, mongodb_url):
    async with (
        serving(settings, mongodb_url, tus_bytes_per_caller=1000) as one,
        serving(settings, mongodb_url, tus_bytes_per_caller=1000) as two,
        caller(one) as a1,
        caller(two) as a2,
    ):
        await make_model(a1, "m")
        token = await make_token(a1, "t-bytes")
        assert (await tus_create(a1, "m", 600)).status_code == 201
        assert (await tus_create(a2, "m", 401)).status_code == 429
        assert (await tus_create(a2, "m", 400)).status_code == 201
        assert (await tus_create(a1, "m", 1)).status_code == 429
        async with caller(two, token=token) as t:  # a token's share is its own
            assert (await tus_create(t, "m", 1000)).status_code == 201
            assert (await tus_create(t, "m", 1)).status_code == 429
        # nothing was registered for the refused ones
        registry = one.state.files.registry
        assert await registry.unfinished("address:10.0.0.1") == (2, 1000)
        assert await registry.unfinished("token:t-bytes") == (1, 1000)


async def test_concurrent_creations_never_exceed_the_count(settings, mongodb_url):
    async with (
        serving(settings, mongodb_url, tus_uploads_per_caller=5) as one,
        serving(settings, mongodb_url, tus_uploads_per_caller=5) as two,
        caller(one) as a1,
        caller(two) as a2,
    ):
        await make_model(a1, "m")
        answers = await asyncio.gather(*(tus_create(client, "m", 10) for client in (a1, a2) * 8))
        created = sum(r.status_code == 201 for r in answers)
        assert {r.status_code for r in answers} <= {201, 429}
        assert created <= 5  # (all may have been refused: each counted the others' at once)
        assert (await one.state.files.registry.unfinished("address:10.0.0.1"))[0] == created
        more = await tus_create(a2, "m", 10)
        assert more.status_code == (201 if created < 5 else 429)
