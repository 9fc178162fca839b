"""`models(trained:)` reads a flag kept on the model: right after concurrent creates and
deletes, for models created after their results, and once backfilled or repaired."""

import asyncio
import random
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from flrepo.documents.backfill import backfill
from flrepo.documents.integrity import Repository, check
from flrepo.documents.ranks import MAX_RANKED, numeric_metrics
from helpers import GraphQL, running_app

MODELS = """query($t: Boolean) { models(trained: $t, limit: 100) { modelName } }"""


async def create_model(gql: GraphQL, name: str) -> None:
    await gql.data(
        'mutation($n: String!) { createModel(input: {modelName: $n, modelVersion: "1"}) '
        "{ modelName } }",
        n=name,
    )


async def create_result(gql: GraphQL, name: str, training: str) -> None:
    await gql.data(
        "mutation($n: String!, $t: String!) { createTrainingResult(input: {modelName: $n, "
        'modelVersion: "1", trainingId: $t}) { trainingId } }',
        n=name,
        t=training,
    )


async def delete_result(gql: GraphQL, name: str, training: str) -> None:
    await gql.raw(
        "mutation($n: String!, $t: String!) { deleteTrainingResult(modelName: $n, "
        'modelVersion: "1", trainingId: $t) }',
        n=name,
        t=training,
    )


async def listed(gql: GraphQL, trained: bool) -> list[str]:
    return [m["modelName"] for m in (await gql.data(MODELS, t=trained))["models"]]


async def test_the_flag_follows_concurrent_creates_and_deletes(gql, db):
    names = [f"m{i}" for i in range(6)]
    for name in names:
        await create_model(gql, name)
    rng = random.Random(7)
    for _ in range(4):
        steps = []
        for name in names:
            for training in ("a", "b"):
                steps.append(create_result(gql, name, training))
                if rng.random() < 0.6:
                    steps.append(delete_result(gql, name, training))
        rng.shuffle(steps)
        await asyncio.gather(*steps)
        truth = {name for name in names if await db.results.find_one({"model_name": name})}
        assert set(await listed(gql, True)) == truth
        assert set(await listed(gql, False)) == set(names) - truth
        for name in names:  # clear for the next round
            for training in ("a", "b"):
                await delete_result(gql, name, training)
        assert await listed(gql, True) == []


async def test_a_model_created_after_its_results_is_trained(gql):
    await create_result(gql, "late", "t")
    await create_model(gql, "late")
    await create_model(gql, "bare")
    assert await listed(gql, True) == ["late"]
    assert await listed(gql, False) == ["bare"]


async def test_backfill_flags_models_and_ranks_results_written_directly(gql, db):
    await db.models.insert_many(
        [{"model_name": n, "model_version": "1", "meta": None} for n in ("x", "y", "z")]
    )
    await db.results.insert_many(
        [
            {"model_name": "y", "model_version": "1", "training_id": "t", "results": {"a": "2"}},
            {"model_name": "q", "model_version": "1", "training_id": "t", "results": {"a": 1}},
        ]
    )
    assert await backfill(db, batch=2) == 5
    assert await backfill(db) == 0
    assert await listed(gql, True) == ["y"]
    assert await listed(gql, False) == ["x", "z"]
    stored = await db.results.find_one({"model_name": "y"})
    assert stored["results"] == {"a": "2"}  # the original's layout is kept
    assert stored["metrics_numeric"] == [{"k": "a", "v": 2.0}]
    assert await db.result_positions.count_documents({}) == 4  # 2 results x 2 directions


async def test_startup_backfills(settings, mongodb_url, mongo):

    db = mongo[settings.db_name]
    await db.models.insert_one({"model_name": "m", "model_version": "1"})
    await db.results.insert_one(
        {"model_name": "m", "model_version": "1", "training_id": "t", "results": {"acc": 0.3}}
    )
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        assert await listed(gql, True) == ["m"]
        ranked = await gql.data('{ trainingResults(orderBy: {metric: "acc"}) { trainingId } }')
        assert ranked["trainingResults"] == [{"trainingId": "t"}]
    assert await db.result_positions.count_documents({"metric": "acc"}) == 2


async def test_check_repair_rebuilds_the_ranking(gql, db, grid):
    await create_result(gql, "m", "keep")
    await db.results.update_one({"training_id": "keep"}, {"$set": {"results": {"acc": 1}}})
    old = ObjectId.from_datetime(datetime.now(UTC) - timedelta(hours=1))
    await db.result_positions.insert_many(
        [  # a crash between a delete and its rows' removal; a create about to insert
            {"_id": old, "rid": "gone", "metric": "acc", "dir": "desc", "key": -5.0},
            {"rid": "coming", "metric": "acc", "dir": "desc", "key": -6.0},
        ]
    )
    report = await check(Repository(db, grid), grace_s=0, repair=True)
    assert [f.kind for f in report.repaired] == ["ranking rows of deleted results"]
    rows = await db.result_positions.find({}, {"_id": 0, "metric": 1, "dir": 1, "key": 1}).to_list()
    assert sorted(rows, key=lambda r: (r["dir"], r["key"])) == [
        {"metric": "acc", "dir": "asc", "key": 1.0},
        {"metric": "acc", "dir": "desc", "key": -6.0},
        {"metric": "acc", "dir": "desc", "key": -1.0},
    ]
    ranked = await gql.data('{ trainingResults(orderBy: {metric: "acc"}) { trainingId } }')
    assert ranked["trainingResults"] == [{"trainingId": "keep"}]  # rows of no result: skipped


def test_a_result_ranks_at_most_its_first_hundred_metrics():
    results = {f"m{i}": i for i in range(150)} | {"x" * 257: 1, "": 2, "s": "n/a"}
    ranked = numeric_metrics(results)
    assert [m["k"] for m in ranked] == [f"m{i}" for i in range(MAX_RANKED)]
