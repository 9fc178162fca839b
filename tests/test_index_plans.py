"""Every list, filter and ranking query the server sends is served by an index.

The queries are caught as the server sends them (a command listener), then explained on the
same database. On MongoDB the plan must walk an index in sort order (no SORT stage). The
embedded database (SecantusDB) reports a SORT stage over any filtered scan sorted on more
than one field, even where the index gives that order; there the scan must still be the
index the query was written for, never a collection scan. Rankings show no SORT on either.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from commands import watching
from helpers import GraphQL, running_app
from pymongo import monitoring

RANKS = "result_positions"
LISTED = {"models", "results", "strategies", "transformations", RANKS, "fs.files"}


def sorted_find(event: monitoring.CommandStartedEvent) -> tuple[str, dict[str, Any]] | None:
    """A sorted `find` of a listed collection, with its database."""
    command = event.command
    if event.command_name == "find" and command.get("find") in LISTED and command.get("sort"):
        return event.database_name, dict(command)
    return None


@pytest.fixture
def finds(settings) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    with watching({settings.db_name, settings.grid_db_name}, sorted_find) as found:
        yield found


def stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            yield from stages(child)


QUERIES = [
    ("{ models { modelName } }", {}),
    ('{ models(modelName: "m1") { modelName } }', {}),
    ('{ models(library: "keras") { modelName } }', {}),
    ("{ models(trained: true) { modelName } }", {}),
    ("{ models(trained: false, offset: 2) { modelName } }", {}),
    ("{ trainingResults { trainingId } }", {}),
    ("{ trainingResults(offset: 5, limit: 3) { trainingId } }", {}),
    ('{ trainingResults(modelName: "m1") { trainingId } }', {}),
    ('{ trainingResults(modelName: "m1", modelVersion: "1") { trainingId } }', {}),
    ('{ trainingResults(configurationId: "c1") { trainingId } }', {}),
    ('{ trainingResults(orderBy: {metric: "acc"}) { trainingId } }', {}),
    ('{ trainingResults(orderBy: {metric: "acc", direction: ASC}, offset: 9) { trainingId } }', {}),
    ('{ trainingResults(modelName: "m1", orderBy: {metric: "acc"}) { trainingId } }', {}),
    (
        '{ trainingResults(modelName: "m1", modelVersion: "1", orderBy: {metric: "acc"}) '
        "{ trainingId } }",
        {},
    ),
    ('{ trainingResults(configurationId: "c1", orderBy: {metric: "acc"}) { trainingId } }', {}),
    ("{ strategies { strategyName } }", {}),
    ("{ transformations { id } }", {}),
    ("{ files { id } }", {}),
    ("{ files(safety: UNSCANNED) { id } }", {}),
    ('{ files(filenamePrefix: "model/") { id } }', {}),
]

CONNECTIONS = [
    ("modelsConnection", "modelName", ""),
    ("modelsConnection", "modelName", "trained: true"),
    ("trainingResultsConnection", "trainingId", ""),
    ("trainingResultsConnection", "trainingId", 'modelName: "m1", modelVersion: "1"'),
    ("trainingResultsConnection", "trainingId", 'orderBy: {metric: "acc"}'),
    ("trainingResultsConnection", "trainingId", 'modelName: "m1", orderBy: {metric: "acc"}'),
    ("strategiesConnection", "strategyName", ""),
    ("filesConnection", "id", ""),
    ("filesConnection", "id", "safety: SAFE"),
]


async def seed(gql: GraphQL) -> None:
    for i in range(4):
        await gql.data(
            'mutation($n: String!) { createModel(input: {modelName: $n, modelVersion: "1", '
            'meta: {library: "keras"}}) { modelName } }',
            n=f"m{i}",
        )
        await gql.data(
            "mutation($n: String!) { createStrategy(input: {strategyName: $n}) { strategyName } }",
            n=f"s{i}",
        )
        for t in range(3):
            results = {"acc": str(t / 10)} if t else {"loss": 1}
            await gql.data(
                "mutation($input: CreateTrainingResultInput!) { createTrainingResult("
                "input: $input) { trainingId } }",
                input={
                    "modelName": f"m{i % 2}",
                    "modelVersion": "1",
                    "trainingId": f"t{i}{t}",
                    "configurationId": f"c{t}",
                    "results": results,
                },
            )


async def run_connection(gql: GraphQL, field: str, key: str, args: str) -> None:
    """Every page of a connection, two items at a time (so that cursors are followed)."""
    after = None
    sep = ", " if args else ""
    query = f"""query($after: String) {{ {field}({args}{sep}first: 2, after: $after) {{
      edges {{ node {{ {key} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
    for _ in range(50):
        page = (await gql.data(query, after=after))[field]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


async def test_every_listing_query_is_served_by_an_index(finds, settings, mongodb_url, mongo):
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        await seed(gql)
        await mongo[settings.grid_db_name]["fs.files"].insert_many(
            [{"filename": f"model/m{i}/1", "length": 0, "chunkSize": 1} for i in range(3)]
        )
        finds.clear()
        for _ in range(2):  # again: reads bounded by the end of a window read before
            for query, variables in QUERIES:
                await gql.data(query, **variables)
            for field, key, args in CONNECTIONS:
                await run_connection(gql, field, key, args)
    secantus = "secantusVersion" in await mongo.admin.command("buildInfo") or (
        "secantusVersion" in await mongo.server_info()
    )
    assert len(finds) >= len(QUERIES) + len(CONNECTIONS)
    collections = {command["find"] for _, command in finds}
    assert collections == LISTED
    problems = []
    rankings = 0
    for database, command in finds:
        explained = await mongo[database].command(
            {"explain": {k: v for k, v in command.items() if not k.startswith("$") and k != "lsid"}}
        )
        plan = list(stages(explained["queryPlanner"]["winningPlan"]))
        kinds = [stage["stage"] for stage in plan]
        what = f"{command['find']} {command.get('filter')} sort {command['sort']}: {kinds}"
        scans = [stage for stage in plan if stage["stage"] == "IXSCAN"]
        sort_fields = list(command["sort"])
        index = list(scans[0]["keyPattern"]) if len(scans) == 1 else []
        # the index ends with the sort's fields: it holds the order, after equality fields
        ordered = index[len(index) - len(sort_fields) :] == sort_fields
        by_name = index[:1] == ["filename"] and "filename" in (command.get("filter") or {})
        # The embedded database takes the shortest index whose first fields the filter fixes
        # (a unique key) and sorts the matches: a bounded scan of those documents only.
        fixed = {f for f, v in (command.get("filter") or {}).items() if not isinstance(v, dict)}
        bounded = secantus and bool(fixed) and set(index[: len(fixed)]) == fixed
        if "COLLSCAN" in kinds or not (ordered or by_name or bounded):
            problems.append(what + f" {index}")
        # A name prefix is a range of the name index, which is not upload order: only the
        # files in that range are sorted. The embedded database reports a SORT over any
        # filtered scan in a multi-field order.
        sorted_anyway = by_name or (secantus and command.get("filter") and len(sort_fields) > 1)
        if "SORT" in kinds and not sorted_anyway:
            problems.append(what)
        # A ranking reads one range of one position field in that field's order: an index
        # walk without a SORT on either database (documents/rank_positions.py).
        if command["find"] == RANKS:
            filtered = list(command.get("filter") or {})
            if "SORT" in kinds or not index or index != sort_fields or filtered != index:
                problems.append("ranking rows " + what + f" {index}")
            rankings += 1
    assert not problems, "\n".join(problems)
    windows = [c for _, c in finds if "$lte" in str(c.get("filter"))]
    assert {c["find"] for c in windows} >= {"results", "models", RANKS}
    assert rankings >= 8  # every ranking query above read its rows so
