"""The startup backfill runs while the server answers: what it would change answers
NOT_READY until it is done (operations/readiness.py); rows of an older version are
dropped and every result ranked again."""

import asyncio
from collections.abc import AsyncIterator

import flrepo.operations.readiness
import pytest
from bson import ObjectId
from flrepo.documents.backfill import backfill
from flrepo.documents.changes import ChangeFeed, ChangeKind
from flrepo.documents.ranks import OLD_RANKS, RANKS, drop_old_rows
from flrepo.operations import readiness
from helpers import GraphQL, running_app
from pymongo.asynchronous.database import AsyncDatabase

RANKING = '{ trainingResults(orderBy: {metric: "acc"}) { trainingId } }'
TRAINED = "{ models(trained: true) { modelName } }"


async def write_behind_its_back(db: AsyncDatabase, count: int) -> None:
    """Results and models as a restore writes them: unranked and unflagged."""
    await db.models.insert_one({"model_name": "m", "model_version": "1", "meta": None})
    await db.results.insert_many(
        [
            {"model_name": "m", "model_version": "1", "training_id": f"t{i}",
             "results": {"acc": str(i / 100)}}
            for i in range(count)
        ]
    )  # fmt: skip


@pytest.fixture
async def held(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[asyncio.Event]:
    """The startup backfill waits for the event the test sets."""
    release = asyncio.Event()

    async def after_release(db: AsyncDatabase) -> int:
        await release.wait()
        return await backfill(db)

    monkeypatch.setattr(flrepo.operations.readiness, "backfill", after_release)
    yield release


async def test_queries_the_backfill_would_change_wait_for_it(settings, mongodb_url, db, held):
    await write_behind_its_back(db, 30)
    async with running_app(settings, mongodb_url, ready=False) as client:
        gql = GraphQL(client)
        assert (await client.get("/healthz")).status_code == 200
        listed = await gql.data("{ trainingResults(limit: 2) { trainingId } }")
        assert listed["trainingResults"] == [{"trainingId": "t0"}, {"trainingId": "t1"}]
        assert len((await client.get("/training-results")).json()) == 30
        assert (await gql.data("{ models { modelName } }"))["models"] == [{"modelName": "m"}]
        for query in (RANKING, TRAINED, "{ models(trained: false) { modelName } }"):
            error = await gql.error(query)
            assert error["extensions"]["code"] == "NOT_READY", error
            assert "retry" in error["message"]
        connection = '{ trainingResultsConnection(orderBy: {metric: "acc"}) { edges { cursor } } }'
        assert (await gql.error(connection))["extensions"]["code"] == "NOT_READY"
        refused = await client.get("/model", params={"trained": "true"})
        assert refused.status_code == 503 and "retry" in refused.json()["detail"]

        held.set()
        await asyncio.wait_for(readiness.wait(), 10)
        ranked = (await gql.data(RANKING))["trainingResults"]
        assert [r["trainingId"] for r in ranked] == [f"t{i}" for i in range(29, -1, -1)]
        assert (await gql.data(TRAINED))["models"] == [{"modelName": "m"}]
        assert [m["model_name"] for m in (await client.get("/model?trained=true")).json()] == ["m"]


async def test_shutdown_cancels_an_unfinished_backfill(settings, mongodb_url, db, held):
    await write_behind_its_back(db, 3)
    async with running_app(settings, mongodb_url, ready=False) as client:
        assert (await client.get("/healthz")).status_code == 200
    # the backfill never ran: the next start ranks them
    assert await db.results.count_documents({"metrics_numeric": {"$exists": True}}) == 0


async def test_rows_of_an_older_version_are_dropped_and_ranked_again(settings, mongodb_url, db):
    ids = [ObjectId() for _ in range(3)]
    await db.results.insert_many(
        [
            {"_id": rid, "model_name": "m", "model_version": "1", "training_id": f"t{i}",
             "results": {"acc": i}, "metrics_numeric": [{"k": "acc", "v": float(i)}]}
            for i, rid in enumerate(ids)
        ]
    )  # fmt: skip
    await db[OLD_RANKS].insert_many(  # marked ranked, with rows an older version wrote
        [
            {"rid": rid, "metric": "acc", "dir": "desc", "key": -float(i)}
            for i, rid in enumerate(ids)
        ]
    )
    async with running_app(settings, mongodb_url) as client:
        ranked = (await GraphQL(client).data(RANKING))["trainingResults"]
        assert [r["trainingId"] for r in ranked] == ["t2", "t1", "t0"]
    assert OLD_RANKS not in await db.list_collection_names()
    assert await db[RANKS].count_documents({"metric": "acc"}) == 2 * 3
    assert not await drop_old_rows(db)  # a later start: one look, nothing to do


async def test_the_backfill_sends_no_change_events(db):
    feed = ChangeFeed(db)
    await feed.start()
    try:
        async with feed.subscribe() as changes:
            await write_behind_its_back(db, 2)  # three inserts
            assert await backfill(db) == 3  # two results marked ranked, a model flagged
            await db[OLD_RANKS].insert_one({"rid": "old"})
            assert await drop_old_rows(db)  # unmarks every result: a change of no one's view
            assert await backfill(db) == 2
            await db.strategies.insert_one({"strategy_name": "last"})
            seen = []
            while not seen or seen[-1] != ("strategies", ChangeKind.CREATED):
                change = await asyncio.wait_for(anext(aiter(changes)), 5)
                seen.append((change.collection, change.kind))
    finally:
        await feed.stop()
    updated = [("models", ChangeKind.META_UPDATED)]  # the trained flag, as a create sets it
    assert seen == [("models", ChangeKind.CREATED)] + [("results", ChangeKind.CREATED)] * 2 + [
        *updated,
        ("strategies", ChangeKind.CREATED),
    ]
