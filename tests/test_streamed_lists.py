"""REST full lists are written as the cursor is read: the same bytes as the whole list built
first (Starlette's JSONResponse), in memory that does not grow with the list."""

import asyncio
import gc
import time
import tracemalloc
from typing import Any

import flrepo.operations.readiness
import httpx
import pytest
from bson import Int64
from flrepo.documents.backfill import backfill
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.ordering import ORDER
from flrepo.documents.strategy import Strategy
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from flrepo.operations.streams import BATCH
from flrepo.rest_compat.common import document
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.responses import JSONResponse

from flrepo.app import create_app
from flrepo.settings import Settings

ODD_VALUES: list[Any] = [
    "naïve ✓ 日本語 \U0001f600",
    'quotes " and \\ backslash\n\ttabs \u2028 \x00 \x1f',
    {"nested": {"deeper": [1, 2.5, -0.0, None, True, {"x": "ÿ"}]}, "": "empty key"},
    [1e300, -1e-300, 0.1, 12345678901234567, Int64(-(2**62))],
    3.141592653589793,
    None,
]
TEXTS = [ODD_VALUES[0], ODD_VALUES[1]]


async def old_listing(cls: type, exclude: set[str] | None = None, **query: Any) -> bytes:
    """What `listing()` sent before it streamed: the whole list through JSONResponse."""
    docs = await cls.find(query).sort(ORDER).to_list()
    return bytes(JSONResponse([document(doc, exclude) for doc in docs]).body)


async def fill(db: AsyncDatabase, collection: str, docs: list[dict[str, Any]]) -> None:
    await db[collection].insert_many(docs)


def results(count: int, name: str = "m", version: str = "1") -> list[dict[str, Any]]:
    return [
        {
            "model_name": name,
            "model_version": version,
            "training_id": f"t{i}",
            "configuration_id": None if i % 3 else f"ç{i}",
            "results": {"loss": ODD_VALUES[i % len(ODD_VALUES)], "i": i},
            "weights_id": None,
        }
        for i in range(count)
    ]


async def test_result_lists_are_byte_identical(client: httpx.AsyncClient, db: AsyncDatabase):
    await fill(db, "results", results(BATCH * 2 + 7) + results(5, "ü", "2"))
    response = await client.get("/training-results")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == await old_listing(TrainingResult)
    assert len(response.json()) == BATCH * 2 + 12
    one = await client.get("/training-results/ü/2")
    assert one.content == await old_listing(TrainingResult, model_name="ü", model_version="2")
    assert len(one.json()) == 5
    assert (await client.get("/training-results/none/1")).content == b"[]"


async def test_model_lists_are_byte_identical(client: httpx.AsyncClient, db: AsyncDatabase):
    models = [
        {"model_name": f"m{i}", "model_version": "1", "meta": {"description": TEXTS[i % 2]}}
        for i in range(BATCH + 3)
    ]
    await fill(db, "models", models)
    await fill(db, "results", results(2, "m1") + results(1, f"m{BATCH + 1}"))
    await backfill(db)  # written behind the server's back: flagged as at startup
    assert (await client.get("/model")).content == await old_listing(MLModel)
    trained = await client.get("/model", params={"trained": "true"})
    assert [m["model_name"] for m in trained.json()] == ["m1", f"m{BATCH + 1}"]
    everything = [doc for doc in await MLModel.find({}).sort(ORDER).to_list()]
    kept = [document(d) for d in everything if d.model_name in ("m1", f"m{BATCH + 1}")]
    assert trained.content == JSONResponse(kept).body


@pytest.mark.parametrize(
    ("path", "cls", "collection", "key", "free"),
    [
        ("/strategy", Strategy, "strategies", "strategy_name", "meta"),
        ("/transformation", Transformation, "transformations", "id", "default_values"),
        ("/service", Service, "services", "id", "needs"),
        ("/inferencer", Inferencer, "inferencers", "id", "needs"),
    ],
)
async def test_other_lists_are_byte_identical(
    client: httpx.AsyncClient,
    db: AsyncDatabase,
    path: str,
    cls: type,
    collection: str,
    key: str,
    free: str,
):
    assert cls.get_collection_name() == collection

    def odd(i: int) -> dict[str, Any]:
        """A free-form object holding an odd value (`needs` holds it one level down)."""
        value = {"v": ODD_VALUES[i % 6], "storage": 1.5}
        return {"preinstalled_libraries": value, "RAM": 2} if free == "needs" else value

    docs = [{key: f"é{i}", free: odd(i)} for i in range(BATCH + 1)]
    await fill(db, collection, docs)
    exclude = None if cls is Strategy else {cls.FILE_FIELD}
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content == await old_listing(cls, exclude)
    assert len(response.json()) == BATCH + 1


async def test_a_refused_list_is_refused_before_it_starts(
    client: httpx.AsyncClient, db: AsyncDatabase
):
    await fill(db, "results", results(3))
    response = await client.get("/training-results", headers={"Authorization": "Bearer no"})
    assert response.status_code == 401, response.text
    assert "detail" in response.json()


async def drain(app: Starlette, path: str) -> int:
    """GET `path` straight through the ASGI app, counting the body's bytes and keeping none
    (an HTTP client in process would keep the whole body)."""
    sent = 0
    status = 0

    requested = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the answer listens for a disconnect: none comes until it is sent
            await done.wait()
            return {"type": "http.disconnect"}
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            sent += len(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    done.set()
    assert status == 200
    return sent


async def no_backfill(db: AsyncDatabase) -> int:
    return 0


async def test_a_list_of_100k_results_takes_bounded_memory(
    settings: Settings, mongodb_url: str, db: AsyncDatabase, monkeypatch: pytest.MonkeyPatch
):
    """Filled before the server starts, so that its change feed does not read the inserts;
    the startup's ranking backfill of what was written behind its back (test_trained_flag.py)
    is left out, as it is not what is measured here and would rank all 100k first."""
    monkeypatch.setattr(flrepo.operations.readiness, "backfill", no_backfill)
    count = 100_000
    for start in range(0, count, 20_000):
        await fill(db, "results", [
            {"model_name": "big", "model_version": "1", "training_id": f"t{i}",
             "configuration_id": "c", "results": {"loss": i / 7, "accuracy": 0.5}}
            for i in range(start, start + 20_000)
        ])  # fmt: skip
    app = create_app(settings, mongodb_url)
    async with app.router.lifespan_context(app):
        await drain(app, "/training-results/none/1")  # warm: imports, connection pool
        gc.collect()
        tracemalloc.start()
        try:
            began = time.monotonic()
            sent = await drain(app, "/training-results")
            took = time.monotonic() - began
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert sent > count * 100
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB for {sent} bytes in {took:.1f} s"
