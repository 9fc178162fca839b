"""HTTP behaviour of the REST routes beyond API.md's table: 405s, Content-Type, disconnects."""

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
    ],
)
async def test_405_allows_the_methods_of_every_route_of_the_path(client, method, path, allowed):
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == allowed


async def test_a_json_body_without_content_type_is_read_as_json(client, db):
    """As `requests.post(url, data=json.dumps(body))` sends it, with no Content-Type."""
    response = await client.post("/model", content=b'{"model_name": "m", "model_version": "1"}')
    assert response.status_code == 201, response.text
    assert await db.models.count_documents({"model_name": "m"}) == 1


async def test_a_body_declared_as_another_type_is_422(client, db):
    body = b'{"model_name": "m", "model_version": "1"}'
    response = await client.post("/model", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert await db.models.count_documents({}) == 0


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
