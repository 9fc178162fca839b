"""The packaged defaults keep every write of deployed clients, and a refused write shows.

The Training Collector sends its results without a token and never checks a status code:
against the image's settings (Dockerfile `ENV`) its writes must be kept; where anonymous
callers may only read, each refused write is logged and counted, on every face.
"""

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from flrepo.app import create_app, log_anonymous_scopes
from flrepo.middleware.access import anonymous_scopes
from flrepo.middleware.observe import refusals
from flrepo.settings import Settings

DOCKERFILE = Path(__file__).parent.parent / "Dockerfile"
WEIGHTS = b"\x80\x04\x95weights" * 100


def image_scopes() -> str:
    """FLREPO_ANONYMOUS_SCOPES as the image's Dockerfile sets it."""
    found = re.search(r"FLREPO_ANONYMOUS_SCOPES=(\S+)", DOCKERFILE.read_text())
    assert found, "the Dockerfile sets no FLREPO_ANONYMOUS_SCOPES"
    return found.group(1)


@asynccontextmanager
async def serving(settings: Settings, url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with `settings`, reached from a client address that is not loopback."""
    app = create_app(settings, url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://repo") as client:
            yield client


async def collector(client: httpx.AsyncClient) -> None:
    """What the Training Collector sends, without a token, never looking at the answers."""
    result = {"model_name": "m", "model_version": 1, "training_id": 13, "configuration_id": 10}
    await client.post("/training-results", json={**result, "results": {"accuracy": 0.9}})
    files = {"file": ("weights", WEIGHTS, "application/octet-stream")}
    await client.put("/training-results/m/1/13/10", files=files)


@pytest.fixture
def image_settings(settings: Settings) -> Callable[..., Settings]:
    """The test's settings as the image runs: listening on all addresses."""
    return lambda **changes: settings.model_copy(update={"host": "0.0.0.0", **changes})


async def test_the_image_keeps_the_collectors_results(image_settings, mongodb_url, db):
    settings = image_settings(anonymous_scopes=image_scopes())
    assert anonymous_scopes(settings) == {"read", "write"}  # deletes need a token
    async with serving(settings, mongodb_url) as client:
        await collector(client)
        weights = await client.get("/training-results/weights/m/1/13")
        deleted = await client.delete("/training-results/m/1/13")
    stored = await db.results.find_one({"training_id": "13"})
    assert stored is not None and stored["weights_id"]
    assert weights.status_code == 200
    assert deleted.status_code == 401


async def refused_writes(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    text = (await client.get("/metrics")).text
    found = re.findall(r'flrepo_refused_writes_total\{face="(\w+)",status="(\d+)"\} (\S+)', text)
    return {(face, status): float(count) for face, status, count in found}


async def test_refused_writes_are_logged_and_counted_on_every_face(
    image_settings, mongodb_url, db: AsyncDatabase, caplog
):
    caplog.set_level(logging.WARNING, "flrepo.refused")
    for repeats in refusals.filters:  # earlier tests' refusals would hold this one's back
        repeats.seen.clear()
    async with serving(image_settings(), mongodb_url) as client:  # anonymous: read only
        await collector(client)
        mutation = 'mutation { createStrategy(input: {strategyName: "s"}) { strategyName } }'
        graphql = await client.post("/graphql", json={"query": mutation})
        tus = await client.post(
            "/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "9"}
        )
        read = await client.get("/model")
        counted = await refused_writes(client)
    assert await db.results.count_documents({}) == 0
    assert graphql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert tus.status_code == 401 and read.status_code == 200
    assert counted == {("rest", "401"): 2, ("graphql", "401"): 1, ("tus", "401"): 1}
    lines = [r.getMessage() for r in caplog.records if r.name == "flrepo.refused"]
    assert lines and "/training-results" in lines[0] and "10.1.2.3" in lines[0]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "flrepo.refused")
    assert len(lines) < 4  # the same warning at most once in 10 s


def test_startup_says_what_anonymous_callers_may_do(image_settings, caplog):
    caplog.set_level(logging.INFO, "flrepo")
    settings = image_settings()
    log_anonymous_scopes(settings, anonymous_scopes(settings))
    log_anonymous_scopes(image_settings(anonymous_scopes="read"), frozenset({"read"}))
    warned, told = caplog.records[-2:]
    assert warned.levelno == logging.WARNING and "\n" not in warned.getMessage()
    assert "only: read" in warned.getMessage()
    assert "FLREPO_ANONYMOUS_SCOPES=read,write" in warned.getMessage()
    assert told.levelno == logging.INFO  # set explicitly: the operator chose it
