"""Shared by the tests: an in-memory database, a small GraphQL client, multipart bodies, and
GridFS counts."""

import contextlib
import json
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from flrepo.operations import readiness
from hang_dump import LOGS
from pymongo.asynchronous.database import AsyncDatabase

from flrepo.app import create_app
from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping
from flrepo.settings import Settings

FILE_FIELDS = "id filename length uploadDate sha256 contentType downloadUrl"


@contextlib.contextmanager
def in_memory_database(*options: str) -> Iterator[str]:
    """A SecantusDB in memory on a free port (with these further options), and its URL.

    Its output goes to a file that `hang_dump` prints should a test hang.
    """
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port), *options]
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / f"secantus-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*command, "--storage-path", ":memory:", "--log-level", "WARNING"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        LOGS.append(log)
        try:
            try:
                wait_for_ping(url, 60, proc)
            except Exception as exc:
                raise RuntimeError(f"SecantusDB did not start:\n{log.read_text()}") from exc
            yield url
        finally:
            LOGS.remove(log)
            stop_process(proc, address=("127.0.0.1", port))


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, mongodb_url: str, ready: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client that talks to it in-process;
    with `ready`, once its startup backfill is done (operations/readiness.py)."""
    app = create_app(settings, mongodb_url)
    async with app.router.lifespan_context(app):
        if ready:
            await readiness.wait()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart request: its bytes come from `chunks`."""

    field: str
    filename: str
    content_type: str
    chunks: Iterable[bytes]


def multipart_chunks(
    operations: dict[str, Any],
    files_map: dict[str, list[str]],
    files: list[FilePart],
    boundary: str,
    *,
    close: bool = True,
) -> Iterator[bytes]:
    """A GraphQL multipart request body (operations, map, then the files), piece by piece.

    With `close=False` the closing boundary is left off, as when a client stops half way.
    """
    b = boundary.encode()
    for name, value in (("operations", operations), ("map", files_map)):
        yield b"--" + b + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"'
        yield b"\r\nContent-Type: application/json\r\n\r\n" + json.dumps(value).encode() + b"\r\n"
    for part in files:
        yield (
            b"--" + b + b'\r\nContent-Disposition: form-data; name="' + part.field.encode()
            + b'"; filename="' + part.filename.encode() + b'"\r\n'
            + b"Content-Type: " + part.content_type.encode() + b"\r\n\r\n"
        )  # fmt: skip
        yield from part.chunks
        yield b"\r\n"
    if close:
        yield b"--" + b + b"--\r\n"


def upload_request(
    query: str,
    variables: dict[str, Any],
    data: bytes | Iterable[bytes],
    *,
    filename: str = "upload.bin",
    content_type: str = "application/octet-stream",
    close: bool = True,
) -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers and body chunks of a one-file upload; the file goes in variable `file`."""
    boundary = "flrepo-" + uuid.uuid4().hex
    chunks = [data] if isinstance(data, bytes) else data
    body = multipart_chunks(
        {"query": query, "variables": {**variables, "file": None}},
        {"0": ["variables.file"]},
        [FilePart("0", filename, content_type, chunks)],
        boundary,
        close=close,
    )
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def split(data: bytes, size: int) -> Iterator[bytes]:
    """`data` in pieces of `size` bytes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


class GraphQL:
    """Posts operations to /graphql and checks the shape of what comes back."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = await self.raw(query, **variables)
        assert "errors" not in body, body
        return body["data"]

    async def error(self, query: str, **variables: Any) -> dict[str, Any]:
        """The one error of an operation that must fail."""
        body = await self.raw(query, **variables)
        return only_error(body)

    async def upload(
        self, query: str, variables: dict[str, Any], data: bytes | Iterable[bytes], **kw: Any
    ) -> dict[str, Any]:
        """The whole JSON reply to a one-file multipart upload."""
        headers, body = upload_request(query, variables, data, **kw)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in body:
                yield chunk

        response = await self.client.post("/graphql", content=stream(), headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def upload_data(
        self, query: str, variables: dict[str, Any], data: bytes | Iterable[bytes], **kw: Any
    ) -> dict[str, Any]:
        body = await self.upload(query, variables, data, **kw)
        assert "errors" not in body, body
        return body["data"]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a reply, which must carry a code."""
    assert len(body.get("errors") or []) == 1, body
    error = body["errors"][0]
    assert "code" in (error.get("extensions") or {}), error
    return error


async def grid_counts(grid: AsyncDatabase) -> tuple[int, int]:
    """(number of `fs.files` documents, number of `fs.chunks` documents)."""
    return (
        await grid["fs.files"].count_documents({}),
        await grid["fs.chunks"].count_documents({}),
    )


async def collection_counts(db: AsyncDatabase) -> dict[str, int]:
    """Documents in each metadata collection."""
    names = ("models", "results", "strategies", "transformations")
    return {name: await db[name].count_documents({}) for name in names}
