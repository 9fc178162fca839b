"""Nested fields are batched: a query costs the same few database reads for 10 rows or 100."""

import hashlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from helpers import GraphQL, running_app
from pymongo import monitoring

READS = {"find", "aggregate", "getMore"}
ROOMY = 100_000  # these queries ask for pages of 1000 with nested lists: over the default limit

NESTED = """query($trained: Boolean) {
  models(trained: $trained, limit: 1000) {
    modelName
    file { length }
    trainingResults { trainingId weights { sha256 } model { modelName } }
  }
}"""


class CommandCounter(monitoring.CommandListener):
    """Names of the commands sent to the databases in `databases`.

    The server's change stream (which opens and polls in the background) is left out.
    """

    def __init__(self) -> None:
        self.databases: set[str] = set()
        self.commands: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name not in self.databases:
            return
        command = event.command
        if event.command_name == "getMore" and command.get("collection") == "$cmd.aggregate":
            return  # the database-wide change stream's cursor
        if event.command_name == "aggregate" and "$changeStream" in command["pipeline"][0]:
            return
        self.commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reads(self) -> int:
        return sum(n for name, n in self.commands.items() if name in READS)


_counter: CommandCounter | None = None


@pytest.fixture
def commands(settings) -> Iterator[CommandCounter]:
    """Counts the commands of clients created from now on, on this test's databases only.

    PyMongo has no way to unregister a global listener, so one is registered for the
    session and told which databases to watch.
    """
    global _counter
    if _counter is None:
        _counter = CommandCounter()
        monitoring.register(_counter)
    _counter.databases = {settings.db_name, settings.grid_db_name}
    _counter.commands.clear()
    yield _counter
    _counter.databases = set()


async def populate(db, grid, n: int) -> None:
    """`n` models, each with a file and one training result with weights."""
    now = datetime.now(UTC)
    files, models, results = [], [], []
    for i in range(n):
        model_file, weights = ObjectId(), ObjectId()
        files += [
            {"_id": model_file, "filename": f"model/m{i}/1", "length": i, "chunkSize": 261120,
             "uploadDate": now},
            {"_id": weights, "filename": f"weights/m{i}/1/c", "length": 1, "chunkSize": 261120,
             "uploadDate": now, "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
             "training_id": "t"},
        ]  # fmt: skip
        models.append(
            {"model_name": f"m{i}", "model_version": "1", "meta": None, "model_id": str(model_file)}
        )
        results.append(
            {"model_name": f"m{i}", "model_version": "1", "training_id": "t",
             "configuration_id": "c", "results": {"i": i}, "weights_id": str(weights)}
        )  # fmt: skip
    await grid["fs.files"].insert_many(files)
    await db.models.insert_many(models)
    await db.results.insert_many(results)


async def reads_for(counter: CommandCounter, gql: GraphQL, n: int, trained: bool | None) -> int:
    counter.commands.clear()
    models = (await gql.data(NESTED, trained=trained))["models"]
    assert len(models) == n
    for i, model in enumerate(models):
        assert model == {
            "modelName": f"m{i}",
            "file": {"length": i},
            "trainingResults": [
                {
                    "trainingId": "t",
                    "weights": {"sha256": hashlib.sha256(str(i).encode()).hexdigest()},
                    "model": {"modelName": f"m{i}"},
                }
            ],
        }
    return counter.reads()


@pytest.mark.parametrize("trained", [None, True], ids=["find", "aggregate"])
async def test_nested_query_reads_do_not_grow_with_rows(
    commands, settings, mongodb_url, mongo, trained
):
    reads = {}
    for n in (10, 100):
        # fresh databases for each size, so each query sees exactly n models
        sized = settings.model_copy(
            update={
                "db_name": f"{settings.db_name}_{n}",
                "grid_db_name": f"{settings.db_name}_{n}g",
                "graphql_max_objects": ROOMY,
            }
        )
        commands.databases = {sized.db_name, sized.grid_db_name}
        try:
            await populate(mongo[sized.db_name], mongo[sized.grid_db_name], n)
            async with running_app(sized, mongodb_url) as client:
                reads[n] = await reads_for(commands, GraphQL(client), n, trained)
        finally:
            await mongo.drop_database(sized.db_name)
            await mongo.drop_database(sized.grid_db_name)
    assert reads[10] == reads[100], reads
    assert 3 <= reads[100] <= 6, reads  # models, results, files (twice), models of results


async def test_training_results_with_their_models_are_batched(
    commands, settings, mongodb_url, db, grid
):
    await populate(db, grid, 50)
    roomy = settings.model_copy(update={"graphql_max_objects": ROOMY})
    async with running_app(roomy, mongodb_url) as client:
        gql = GraphQL(client)
        commands.commands.clear()
        results = (
            await gql.data(
                "{ trainingResults(limit: 1000) { weights { length } "
                "model { modelName file { length } trainingResults { trainingId } } } }"
            )
        )["trainingResults"]
    assert len(results) == 50
    assert results[7]["model"] == {
        "modelName": "m7",
        "file": {"length": 7},
        "trainingResults": [{"trainingId": "t"}],
    }
    assert commands.reads() <= 6, commands.commands
