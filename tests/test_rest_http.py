"""HTTP behaviour of the REST routes beyond API.md's table: 405s, Content-Type, disconnects."""

import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/model", "GET, POST"),
        ("POST", "/model/m/1", "DELETE, GET, HEAD, PUT"),
        ("DELETE", "/strategy/meta/s", "PUT"),
        ("POST", "/openapi.json", "GET, HEAD"),
        # /training-results/{name}/{version}/{training_id}/{configuration_id} (PUT) matches too,
        # with the model named "weights"; the path a client means is the weights download.
        ("PATCH", "/training-results/weights/m/1/t", "GET, HEAD"),
        # A browser's preflight before a PUT from another site: no CORS grant.
        ("OPTIONS", "/model/meta/m/1", "PUT"),
    ],
)
async def test_405_allows_the_methods_of_every_route_of_the_path(client, method, path, allowed):
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == allowed
    assert "access-control-allow-origin" not in response.headers


async def test_a_json_body_without_content_type_is_read_as_json(client, db):
    """As `requests.post(url, data=json.dumps(body))` sends it, with no Content-Type."""
    response = await client.post("/model", content=b'{"model_name": "m", "model_version": "1"}')
    assert response.status_code == 201, response.text
    assert await db.models.count_documents({"model_name": "m"}) == 1


JSON_TYPE = {"Content-Type": "application/json"}
# Every route that reads a JSON body, with a body it would accept.
JSON_ROUTES = [
    ("POST", "/model", {"model_name": "n", "model_version": "1"}),
    ("POST", "/model/", {"model_name": "n", "model_version": "1"}),
    ("PUT", "/model/meta/m/1", {"library": "keras"}),
    ("POST", "/training-results", {"model_name": "m", "model_version": "1", "training_id": "t"}),
    ("POST", "/strategy", {"strategy_name": "s2"}),
    ("PUT", "/strategy/meta/s", {"meta": {"rounds": 3}}),
    ("POST", "/transformation", {"id": "x2"}),
    ("PUT", "/transformation/meta/x", {"id": "x", "description": "changed"}),
]
# The types a page of another site may send without asking the server first (no preflight).
FOREIGN_TYPES = [
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=bnd",
]


async def stored_documents(db) -> list:
    names = ("models", "results", "strategies", "transformations")
    return [await db[name].find({}, {"_id": 0}).to_list() for name in names]


@pytest.fixture
async def existing(client):
    """A model, strategy and transformation for the meta routes to change."""
    for path, body in [
        ("/model", {"model_name": "m", "model_version": "1"}),
        ("/strategy", {"strategy_name": "s"}),
        ("/transformation", {"id": "x"}),
    ]:
        assert (await client.post(path, json=body)).status_code == 201


@pytest.mark.parametrize("content_type", FOREIGN_TYPES)
@pytest.mark.parametrize(("method", "path", "body"), JSON_ROUTES)
async def test_a_json_body_declared_as_another_type_is_415_and_writes_nothing(
    client, db, existing, method, path, body, content_type
):
    before = await stored_documents(db)
    response = await client.request(
        method, path, content=json.dumps(body), headers={"Content-Type": content_type}
    )
    assert response.status_code == 415, response.text
    assert list(response.json()) == ["detail"]
    assert content_type in response.json()["detail"]
    assert await stored_documents(db) == before


@pytest.mark.parametrize(("method", "path", "body"), JSON_ROUTES)
async def test_a_body_declared_as_a_json_type_is_read(client, existing, method, path, body):
    headers = {"Content-Type": "application/merge-patch+json; charset=utf-8"}
    response = await client.request(method, path, content=json.dumps(body), headers=headers)
    assert response.status_code in (201, 204), response.text


@pytest.mark.parametrize(("method", "path", "body"), JSON_ROUTES)
async def test_a_body_without_content_type_from_a_web_page_is_415(
    client, db, existing, method, path, body
):
    """Browsers send `Origin` with such a body (fetch with a Blob or ArrayBuffer)."""
    before = await stored_documents(db)
    headers = {"Origin": "https://elsewhere.example"}
    response = await client.request(method, path, content=json.dumps(body), headers=headers)
    assert response.status_code == 415, response.text
    assert await stored_documents(db) == before


async def test_a_string_without_utf8_is_422_not_500(client, db):
    """JSON may escape half a surrogate pair; Python reads it, but it cannot be stored."""
    body = b'{"strategy_name": "s", "meta": {"note": "\\ud800"}}'
    response = await client.post("/strategy", content=body, headers=JSON_TYPE)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert await db.strategies.count_documents({}) == 0


async def test_an_integer_over_64_bits_is_422_not_500(client, db):
    body = {"strategy_name": "s", "meta": {"rounds": 2**64}}
    response = await client.post("/strategy", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "meta"]
    assert await db.strategies.count_documents({}) == 0


async def test_a_body_that_is_not_utf8_is_400(client, db):
    response = await client.post(
        "/strategy", content=b'{"strategy_name": "\xff"}', headers=JSON_TYPE
    )
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["detail"]
    assert await db.strategies.count_documents({}) == 0


class DisconnectAfter:
    """Delivers the first `limit` body bytes, then tells the app the client went away."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.received = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cut_receive() -> Message:
            if self.received > self.limit:
                return {"type": "http.disconnect"}
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, cut_receive, send)


async def chunks(data: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def stored(db, grid) -> list[int]:
    return [
        await db.models.count_documents({"model_id": {"$ne": None}}),
        await grid["fs.files"].count_documents({}),
        await grid["fs.chunks"].count_documents({}),
    ]


@pytest.mark.parametrize(
    ("method", "path", "content_type", "body"),
    [
        ("PUT", "/model/m/1", "multipart/form-data; boundary=bnd", "upload"),
        ("POST", "/model", "application/json", b'{"model_name": "n", "model_version": "1"}'),
    ],
    ids=["upload", "json"],
)
async def test_a_client_gone_mid_request_is_a_4xx_and_writes_nothing(
    app, client, db, grid, method, path, content_type, body
):
    created = await client.post("/model", json={"model_name": "m", "model_version": "1"})
    assert created.status_code == 201
    before = await stored(db, grid)
    if body == "upload":
        head = b'--bnd\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
        body = head + os.urandom(2_000_000) + b"\r\n--bnd--\r\n"
    cutter = DisconnectAfter(app, len(body) // 2)
    transport = httpx.ASGITransport(app=cutter)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as cut_client:
        headers = {"Content-Type": content_type}
        response = await cut_client.request(
            method, path, content=chunks(body, max(8, len(body) // 32)), headers=headers
        )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert await stored(db, grid) == before
    assert await db.models.count_documents({}) == 1
