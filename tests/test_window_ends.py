"""Lists and rankings read up to where an earlier window ended stay exact while results
come and go.

`operations/window_ends` bounds the read of a window by the end of the furthest window read
before; results inserted before that end, or deleted from it, change what the window holds.
Random inserts (better, worse, tied; for lists also documents of the original service,
which have no time and list first) and deletes between reads: every page, by offset and by
cursor, equals the order computed here from the stored results, and bounded reads happen.
"""

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from commands import watching
from flrepo.documents.ranks import RANKS
from helpers import GraphQL

OFFSET = """query($o: Int, $d: SortDirection) { trainingResults(modelName: "r",
  orderBy: {metric: "accuracy", direction: $d}, limit: 4, offset: $o) { trainingId } }"""
CURSOR = """query($a: String, $d: SortDirection) { trainingResultsConnection(modelName: "r",
  orderBy: {metric: "accuracy", direction: $d}, first: 4, after: $a) {
  edges { node { trainingId } } pageInfo { endCursor hasNextPage } } }"""
VALUES = ["0.1", "0.25", "0.5", "0.5", "0.75", "0.9", "0.99", "n/a"]  # ties, and no number


def ranked(docs: list[dict[str, Any]], descending: bool) -> list[str]:
    """The ranking, as the API defines it: numbers first (ties in `_id` order), then the
    results without the metric as a number, in `_id` order."""
    numbers = [d for d in docs if d["results"]["accuracy"] != "n/a"]
    others = [d for d in docs if d["results"]["accuracy"] == "n/a"]
    sign = -1 if descending else 1
    numbers.sort(key=lambda d: (sign * float(d["results"]["accuracy"]), d["_id"]))
    others.sort(key=lambda d: d["_id"])
    return [d["training_id"] for d in numbers + others]


def in_time_order(docs: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """Listing order: documents without the time `field` first, then by time; then `_id`."""
    return sorted(docs, key=lambda d: (d.get(field) is not None, d.get(field) or 0, d["_id"]))


def reads_of(collection: str) -> Callable[[Any], dict[str, Any] | None]:
    """The filters of the reads of `collection`."""

    def keep(command: Any) -> dict[str, Any] | None:
        if command.command_name == "find" and command.command.get("find") == collection:
            return command.command["filter"]
        return None

    return keep


def check_bounds(reads: list[dict[str, Any]], field: str) -> None:
    """Some reads, not all, were bounded by a kept window end."""
    with_bound = [f for f in reads if isinstance(f.get(field), dict) and "$lte" in f[field]]
    assert with_bound, "no read was bounded by a kept window end"
    assert len(with_bound) < len(reads), "every read was bounded"


async def walk(gql: GraphQL, query: str, field: str, key: str, **variables: Any) -> list[str]:
    """The `key` of every item of the connection `field`, page after page."""
    walked, after = [], None
    while True:
        page = (await gql.data(query, a=after, **variables))[field]
        walked += [edge["node"][key] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return walked


async def check_pages(
    gql: GraphQL, expected: list[str], by_offset: str, by_cursor: str, **variables: Any
) -> None:
    """The first pages by offset, and every page by cursor, hold the `expected` items."""
    for offset in (0, 4, 8):
        page = await gql.data(by_offset, o=offset, **variables)
        got = [r["trainingId"] for r in page["trainingResults"]]
        assert got == expected[offset : offset + 4]
    connection = "trainingResultsConnection"
    assert await walk(gql, by_cursor, connection, "trainingId", **variables) == expected


async def delete_some(gql: GraphQL, rng: random.Random, docs: list[dict[str, Any]]) -> None:
    for victim in rng.sample(docs, k=min(len(docs), rng.randint(0, 2))):
        mutation = """mutation($m: String!, $t: String!) {
          deleteTrainingResult(modelName: $m, modelVersion: "1", trainingId: $t) }"""
        done = await gql.data(mutation, m=victim["model_name"], t=victim["training_id"])
        assert done["deleteTrainingResult"]


async def test_pages_stay_exact_while_results_come_and_go(gql: GraphQL, client, db, settings):
    rng = random.Random(23)
    assert (await client.post("/model", json={"model_name": "r", "model_version": "1"})).is_success
    made = 0

    async def insert() -> None:
        nonlocal made
        body = {"model_name": "r", "model_version": "1", "training_id": f"t{made}",
                "results": {"accuracy": rng.choice(VALUES)}}  # fmt: skip
        made += 1
        assert (await client.post("/training-results", json=body)).is_success

    for _ in range(14):
        await insert()
    with watching({settings.db_name}, reads_of(RANKS)) as reads:
        for _ in range(12):
            for descending in (True, False):
                direction = "DESC" if descending else "ASC"
                docs = await db.results.find({"model_name": "r"}).to_list()
                expected = ranked(docs, descending)
                await check_pages(gql, expected, OFFSET, CURSOR, d=direction)
            for _ in range(rng.randint(0, 3)):
                await insert()
            await delete_some(gql, rng, docs)
    check_bounds(reads, next(iter(reads[0])))


LISTED = """query($o: Int, $m: String) { trainingResults(modelName: $m, limit: 4, offset: $o) {
  trainingId } }"""
LISTED_CURSOR = """query($a: String, $m: String) { trainingResultsConnection(modelName: $m,
  first: 4, after: $a) { edges { node { trainingId } } pageInfo { endCursor hasNextPage } } }"""


async def test_lists_stay_exact_while_results_come_and_go(gql: GraphQL, client, db, settings):
    rng = random.Random(15)
    for name in ("a", "b"):
        body = {"model_name": name, "model_version": "1"}
        assert (await client.post("/model", json=body)).is_success
    made = 0

    async def insert() -> None:
        nonlocal made
        body = {"model_name": rng.choice("ab"), "model_version": "1", "training_id": f"t{made}",
                "results": {"accuracy": "0.5"}}  # fmt: skip
        made += 1
        if rng.random() < 0.2:  # as the original service wrote it: no time, listed first
            await db.results.insert_one(body)
        else:
            assert (await client.post("/training-results", json=body)).is_success

    for _ in range(14):
        await insert()
    with watching({settings.db_name}, reads_of("results")) as reads:
        for _ in range(12):
            for model in (None, "a"):
                query = {} if model is None else {"model_name": model}
                docs = await db.results.find(query).to_list()
                expected = [d["training_id"] for d in in_time_order(docs, "created_at")]
                await check_pages(gql, expected, LISTED, LISTED_CURSOR, m=model)
            for _ in range(rng.randint(0, 3)):
                await insert()
            await delete_some(gql, rng, docs)
    check_bounds(reads, "created_at")


FILES = """query($o: Int, $s: PickleVerdict) { files(safety: $s, limit: 4, offset: $o) { id } }"""
FILES_CURSOR = """query($a: String, $s: PickleVerdict) {
  filesConnection(safety: $s, first: 4, after: $a) {
  edges { node { id } } pageInfo { endCursor hasNextPage } } }"""


async def test_files_stay_exact_while_files_come_and_go(gql: GraphQL, grid, settings):
    rng = random.Random(5)
    began = dt.datetime(2026, 1, 1)

    async def insert() -> None:
        doc: dict[str, Any] = {"filename": f"model/m/{rng.random()}", "length": 0, "chunkSize": 1}
        if rng.random() < 0.85:  # else stored by a tool that set no date: listed first
            doc["uploadDate"] = began + dt.timedelta(seconds=rng.randint(0, 40))  # ties too
        if rng.random() < 0.5:
            doc["safety"] = {"verdict": "SAFE"}
        await grid["fs.files"].insert_one(doc)

    def ids(page: list[dict[str, Any]]) -> list[str]:
        return [item["id"] for item in page]

    for _ in range(14):
        await insert()
    with watching({settings.grid_db_name}, reads_of("fs.files")) as reads:
        for _ in range(12):
            for safety in (None, "SAFE"):
                query = {} if safety is None else {"safety.verdict": safety}
                docs = await grid["fs.files"].find(query).to_list()
                expected = [str(d["_id"]) for d in in_time_order(docs, "uploadDate")]
                for offset in (0, 4, 8):
                    page = await gql.data(FILES, o=offset, s=safety)
                    assert ids(page["files"]) == expected[offset : offset + 4]
                walked = await walk(gql, FILES_CURSOR, "filesConnection", "id", s=safety)
                assert walked == expected
            for _ in range(rng.randint(0, 3)):
                await insert()
            for victim in rng.sample(docs, k=min(len(docs), rng.randint(0, 2))):
                await grid["fs.files"].delete_one({"_id": victim["_id"]})
    check_bounds(reads, "uploadDate")
