"""Fixtures: one real MongoDB wire-protocol server per test session, fresh databases per test."""

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from flrepo.operations import readiness
from helpers import GraphQL, in_memory_database
from pymongo import AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette

from flrepo.app import create_app
from flrepo.settings import Settings

pytest_plugins = ["hang_dump", "serve_processes"]
# What the test modules import from these is asserted with pytest's messages.
pytest.register_assert_rewrite("archives", "seed_data", "serve_processes", "uploads")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The root logger as the test found it: commands run in process (`flrepo.cli.main.main`)
    configure logging for the whole process, which would change what later tests capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def mongodb_url() -> Iterator[str]:
    """`FLREPO_TEST_MONGODB_URL`, or an in-memory SecantusDB started for this session."""
    if url := os.environ.get("FLREPO_TEST_MONGODB_URL"):
        yield url
        return
    with in_memory_database() as url:
        yield url


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


@pytest.fixture
async def target(mongodb_url: str, mongo: AsyncMongoClient) -> AsyncIterator[Settings]:
    """A second pair of fresh databases, to restore into."""
    tag = uuid.uuid4().hex[:12]
    settings = Settings(mongodb_url=mongodb_url, db_name=f"r{tag}", grid_db_name=f"r{tag}_g")
    yield settings
    await mongo.drop_database(settings.db_name)
    await mongo.drop_database(settings.grid_db_name)


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
        await readiness.wait()  # the startup backfill (of an empty database): not raced
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


@pytest.fixture
def names(mongodb_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh database names, given to the `flrepo` commands through the environment."""
    tag = uuid.uuid4().hex[:12]
    settings = Settings(mongodb_url=mongodb_url, db_name=f"c{tag}", grid_db_name=f"c{tag}_g")
    monkeypatch.setenv("FLREPO_DB_NAME", settings.db_name)
    monkeypatch.setenv("FLREPO_GRID_DB_NAME", settings.grid_db_name)
    yield settings
    with MongoClient(mongodb_url) as client:
        client.drop_database(settings.db_name)
        client.drop_database(settings.grid_db_name)
