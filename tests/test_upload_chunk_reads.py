"""An upload and its completion read at most one stored chunk per command, by every face.

A command that reads a file's chunks (a count, an aggregation, a find of a range) costs the
embedded database a read of each of them into memory: counting the chunks of a 1 GB upload
once took it to 2.1 GB. The commands the server sends to `fs.chunks` are caught as it sends
them (a command listener) during a REST, a GraphQL and a tus upload: each writes, or names
one chunk by `files_id` and `n`. bench/database_memory.py measures the memory itself.
"""

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from callers import PATCH as PATCH_HEADERS
from callers import multipart, tus_create
from commands import watching
from flrepo.documents.chunk_writer import CHUNK_SIZE
from helpers import GraphQL, running_app, split
from pymongo import monitoring

SIZE = 64 * 1024 * 1024 + 12_345  # many writes, and a partial last chunk
PATCH = 16 * 1024 * 1024 + 777  # tus requests that end inside a chunk, so the next reads it back
WRITES = {"insert"}  # commands that read no stored chunk


def chunk_command(event: monitoring.CommandStartedEvent) -> dict[str, Any] | None:
    """A command sent to `fs.chunks`, with its name."""
    name = event.command_name
    target = event.command.get("collection" if name == "getMore" else name)
    return {"name": name, **event.command} if target == "fs.chunks" else None


@pytest.fixture
def chunk_commands(settings) -> Iterator[list[dict[str, Any]]]:
    with watching({settings.grid_db_name}, chunk_command) as commands:
        yield commands


def one_chunk(query: dict[str, Any]) -> bool:
    """Whether `query` names a single chunk: `files_id` and `n` given as values."""
    return all(
        key in query and not (isinstance(query[key], dict) and set(query[key]) != {"$eq"})
        for key in ("files_id", "n")
    )


def reads_at_most_one_chunk(command: dict[str, Any]) -> bool:
    name = command["name"]
    if name in WRITES:
        return True
    if name == "find":
        return one_chunk(command.get("filter", {}))
    if name == "update":
        return all(one_chunk(u["q"]) and not u.get("multi") for u in command["updates"])
    if name == "delete":
        return all(one_chunk(d["q"]) and d.get("limit") == 1 for d in command["deletes"])
    if name == "findAndModify":
        return one_chunk(command.get("query", {}))
    return False  # count, aggregate, distinct, getMore, …


def generated() -> bytes:
    """SIZE bytes, each MiB different, without asking the system for SIZE random bytes."""
    block = os.urandom(1 << 20)
    return (
        b"".join(i.to_bytes(4, "big") + block[4:] for i in range(SIZE >> 20))
        + block[: SIZE % (1 << 20)]
    )


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    """`data` as a client sends it, a MiB at a time."""
    for piece in split(data, 1 << 20):
        yield piece


async def create(client: httpx.AsyncClient, name: str) -> None:
    created = await client.post("/model", json={"model_name": name, "model_version": "1"})
    assert created.status_code == 201, created.text


async def by_rest(client: httpx.AsyncClient, payload: bytes) -> None:
    await create(client, "rest")
    headers, body = multipart(split(payload, 1 << 20))
    response = await client.put("/model/rest/1", content=body, headers=headers)
    assert response.status_code == 204, response.text


async def by_graphql(client: httpx.AsyncClient, payload: bytes) -> None:
    await create(client, "graphql")
    query = (
        'mutation($file: Upload!) { uploadModelFile(modelName: "graphql", modelVersion: "1", '
        "file: $file) { file { length } } }"
    )
    await GraphQL(client).upload_data(query, {}, split(payload, 1 << 20))


async def by_tus(client: httpx.AsyncClient, payload: bytes) -> None:
    await create(client, "tus")
    created = await tus_create(client, "tus", len(payload))
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    for offset in range(0, len(payload), PATCH):
        response = await client.patch(
            url,
            content=pieces(payload[offset : offset + PATCH]),
            headers={**PATCH_HEADERS, "Upload-Offset": str(offset)},
        )
        assert response.status_code == 204, response.text


Upload = Callable[[httpx.AsyncClient, bytes], Awaitable[None]]


@pytest.mark.parametrize(
    ("upload", "reads"),
    [(by_rest, 0), (by_graphql, 0), (by_tus, SIZE // PATCH)],  # tus: each PATCH after the first
    ids=["rest", "graphql", "tus"],
)
async def test_an_upload_reads_no_more_than_one_chunk_at_a_time(
    upload: Upload, reads: int, chunk_commands, settings, mongodb_url
):
    payload = generated()
    async with running_app(settings, mongodb_url) as client:
        chunk_commands.clear()  # what startup sent (its indexes) is not the upload's
        await upload(client, payload)
        stored = await client.head(f"/model/{upload.__name__[3:]}/1")
    assert stored.headers["etag"] == f'"{hashlib.sha256(payload).hexdigest()}"'

    inserted = sum(len(c["documents"]) for c in chunk_commands if c["name"] == "insert")
    assert inserted >= SIZE // CHUNK_SIZE - 1, "the listener saw the chunks written"
    assert sum(c["name"] == "find" for c in chunk_commands) == reads  # the partial last chunk
    wide = [c for c in chunk_commands if not reads_at_most_one_chunk(c)]
    assert wide == [], [{k: v for k, v in c.items() if k != "documents"} for c in wide]
