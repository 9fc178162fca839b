"""Fixtures: one real MongoDB wire-protocol server per test session, fresh databases per test."""

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient

from server.embedded import free_port, secantus_command, stop_process, wait_for_ping
from server.settings import Settings


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
    settings = Settings(
        mongodb_url=mongodb_url, db_name=f"t{tag}", grid_db_name=f"t{tag}_grid"
    )
    yield settings
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    try:
        await client.drop_database(settings.db_name)
        await client.drop_database(settings.grid_db_name)
    finally:
        await client.close()
