"""Fixtures: one real MongoDB wire-protocol server per test session, fresh databases per test."""

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from helpers import GraphQL
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette

from flrepo.app import create_app
from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping
from flrepo.settings import Settings


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """`FLREPO_TEST_MONGODB_URL`, or an in-memory SecantusDB started for this session."""
    if url := os.environ.get("FLREPO_TEST_MONGODB_URL"):
        yield url
        return
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--storage-path", ":memory:", "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_for_ping(url, 60, proc)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
async def settings(mongodb_url: str) -> AsyncIterator[Settings]:
    """Settings naming two fresh databases, dropped after the test."""
    tag = uuid.uuid4().hex[:12]
    settings = Settings(mongodb_url=mongodb_url, db_name=f"t{tag}", grid_db_name=f"t{tag}_grid")
    yield settings
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    try:
        await client.drop_database(settings.db_name)
        await client.drop_database(settings.grid_db_name)
    finally:
        await client.close()


@pytest.fixture(scope="session")
async def mongo(mongodb_url: str) -> AsyncIterator[AsyncMongoClient]:
    """A client of our own, for looking at (and writing) the stored data directly."""
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    yield client
    await client.close()


@pytest.fixture
def db(mongo: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    """The test's metadata database."""
    return mongo[settings.db_name]


@pytest.fixture
def grid(mongo: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    """The test's GridFS database."""
    return mongo[settings.grid_db_name]


@pytest.fixture
async def app(settings: Settings, mongodb_url: str) -> AsyncIterator[Starlette]:
    """The whole server on the test's databases, its lifespan running."""
    app = create_app(settings, mongodb_url)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP to `app`, in process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQL:
    """GraphQL operations against `app`."""
    return GraphQL(client)
