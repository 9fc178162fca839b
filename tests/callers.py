"""Several callers of one app, or of two replicas on one database: anonymous ones told apart
by their address, and token holders; request bodies that stall; tus and REST uploads."""

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette

from flrepo.app import create_app
from flrepo.settings import Settings

ADMIN = "admin-secret-for-share-tests"
TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, mongodb_url: str, **changes: object
) -> AsyncIterator[Starlette]:
    """The app with these settings changed (and an admin secret), its lifespan running."""
    changed = settings.model_copy(update={"admin_token": SecretStr(ADMIN), **changes})
    app = create_app(changed, mongodb_url)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def caller(
    app: Starlette, address: str = "10.0.0.1", token: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` from `address`, with `token` if given."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers, timeout=60
    ) as client:
        yield client


async def make_token(client: httpx.AsyncClient, name: str) -> str:
    """A new read-write-delete token's secret (made with the admin secret)."""
    query = 'mutation($n: String!) { createToken(name: $n, scopes: ["read", "write", "delete"]) '
    response = await client.post(
        "/graphql",
        json={"query": query + "{ secret } }", "variables": {"n": name}},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["createToken"]["secret"]


async def make_model(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/model", json={"model_name": name, "model_version": "1"})
    assert response.status_code < 300, response.text


class Stalling:
    """A request body that sends `head`, then nothing until `release` is set (then `tail`)."""

    def __init__(self, head: bytes, tail: bytes = b"") -> None:
        self.head = head
        self.tail = tail
        self.sent = asyncio.Event()
        self.release = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        self.sent.set()
        await self.release.wait()
        if self.tail:
            yield self.tail


def multipart(pieces: Iterable[bytes] | Stalling, field: str = "file") -> tuple[dict, object]:
    """Headers and a streamed body of a one-file multipart form."""
    boundary = "b" + uuid.uuid4().hex
    start = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="f.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    end = f"\r\n--{boundary}--\r\n".encode()

    async def body() -> AsyncIterator[bytes]:
        yield start
        if isinstance(pieces, Stalling):
            async for piece in pieces:
                yield piece
        else:
            for piece in pieces:
                yield piece
        yield end

    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body()


def metadata(model: str) -> str:
    pairs = {"kind": "model", "model_name": model, "model_version": "1"}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


async def tus_create(client: httpx.AsyncClient, model: str, length: int) -> httpx.Response:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(model)}
    return await client.post("/uploads/", headers=headers)


async def tus_patch(
    client: httpx.AsyncClient, url: str, offset: int, body: bytes | Stalling
) -> httpx.Response:
    content = body if isinstance(body, bytes) else aiter(body)
    return await client.patch(url, content=content, headers={**PATCH, "Upload-Offset": str(offset)})
