"""Keyset pages (connections): every item exactly once, also while items are added; cursors
are opaque and checked; rankings page by cursor with their ties in a stable order."""

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from flrepo.documents.backfill import backfill
from flrepo.operations.cursors import encode
from helpers import GraphQL

RESULTS = """
query($name: String, $order: ResultOrder, $first: Int, $after: String) {
  trainingResultsConnection(modelName: $name, orderBy: $order, first: $first, after: $after) {
    edges { cursor node { trainingId } }
    pageInfo { hasNextPage endCursor }
  }
}"""

LIST = """
query($order: ResultOrder, $limit: Int, $offset: Int) {
  trainingResults(orderBy: $order, limit: $limit, offset: $offset) { trainingId }
}"""


async def create_result(gql: GraphQL, training: str, results: dict | None = None) -> None:
    await gql.data(
        """mutation($input: CreateTrainingResultInput!) {
             createTrainingResult(input: $input) { trainingId } }""",
        input={"modelName": "m", "modelVersion": "1", "trainingId": training, "results": results},
    )


async def walk(gql: GraphQL, first: int, **variables) -> list[str]:
    """Every page of the results connection, following endCursor, as training ids."""
    seen: list[str] = []
    after = None
    for _ in range(1000):
        page = (await gql.data(RESULTS, first=first, after=after, **variables))[
            "trainingResultsConnection"
        ]
        seen += [edge["node"]["trainingId"] for edge in page["edges"]]
        info = page["pageInfo"]
        if page["edges"]:
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]
    raise AssertionError("the pages never ended")


async def test_pages_by_cursor_list_everything_once_in_listing_order(gql):
    for i in range(23):
        await create_result(gql, f"t{i:02}")
    expected = [f"t{i:02}" for i in range(23)]
    for first in (1, 5, 7, 23, 100):
        assert await walk(gql, first) == expected
    offset = (await gql.data(LIST, limit=100))["trainingResults"]
    assert [r["trainingId"] for r in offset] == expected


async def test_an_empty_page_has_no_end_cursor(gql):
    page = (await gql.data(RESULTS, first=5))["trainingResultsConnection"]
    assert page == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    await create_result(gql, "only")
    page = (await gql.data(RESULTS, first=0))["trainingResultsConnection"]
    assert page == {"edges": [], "pageInfo": {"hasNextPage": True, "endCursor": None}}


async def test_pages_under_concurrent_inserts_hold_every_earlier_item_once(gql):
    for i in range(40):
        await create_result(gql, f"old{i:02}")

    async def insert_more() -> None:
        for i in range(40):
            await create_result(gql, f"new{i:02}")
            await asyncio.sleep(0)

    writer = asyncio.create_task(insert_more())
    seen = await walk(gql, 3)
    await writer
    assert len(seen) == len(set(seen)), "an item came twice"
    assert [t for t in seen if t.startswith("old")] == [f"old{i:02}" for i in range(40)]
    news = [t for t in seen if t.startswith("new")]
    assert news == sorted(news)  # what was added while paging comes after, in its order
    assert await walk(gql, 7) == [f"old{i:02}" for i in range(40)] + [
        f"new{i:02}" for i in range(40)
    ]


async def test_documents_without_a_time_page_first_in_id_order(gql, db):
    await create_result(gql, "ours")
    await db.results.insert_many(
        [{"model_name": "m", "model_version": "1", "training_id": f"old{i}"} for i in range(5)]
    )
    for first in (1, 2, 4):
        assert await walk(gql, first) == [f"old{i}" for i in range(5)] + ["ours"]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED = [
    "not a cursor",
    "!!!!",
    b64("{}"),
    b64("[]"),
    b64('["listed"]'),
    b64('["listed", null]'),
    b64('["nope", null, {"$oid": "5f0000000000000000000000"}]'),
    b64('["listed", {"$gt": 1}, {"$oid": "5f0000000000000000000000"}]'),
    b64('["listed", null, {"$where": "sleep(100)"}]'),
    b64('["listed", [1, 2], 3]'),
    b64('["listed", {"$regex": ".*"}, 1]'),
    b64('["listed", "2026-01-01", {"$oid": "5f0000000000000000000000"}]'),  # a time of
    b64('["listed", 5, {"$oid": "5f0000000000000000000000"}]'),  # another type
    b64('["listed", {"$oid": "5f0000000000000000000000"}, 1]'),
    b64("\xff\xfe"),
    "A" * 5000,
]


@pytest.mark.parametrize("cursor", FORGED)
async def test_a_forged_cursor_is_bad_input(gql, cursor):
    await create_result(gql, "t", {"accuracy": 0.5})
    await create_result(gql, "u", {"accuracy": 0.7})
    for order in (None, {"metric": "accuracy"}):  # full first pages: their ends are kept
        assert (await gql.data(RESULTS, first=1, order=order))["trainingResultsConnection"]
    error = await gql.error(RESULTS, first=5, after=cursor)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    error = await gql.error(RESULTS, first=5, after=cursor, order={"metric": "accuracy"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error


async def test_a_cursor_of_another_list_or_ranking_is_bad_input(gql):
    await create_result(gql, "a", {"accuracy": 0.5})
    await create_result(gql, "b", {"accuracy": 0.7})
    listed = (await gql.data(RESULTS, first=1))["trainingResultsConnection"]
    ranked = (await gql.data(RESULTS, first=1, order={"metric": "accuracy"}))[
        "trainingResultsConnection"
    ]
    listed_cursor = listed["pageInfo"]["endCursor"]
    ranked_cursor = ranked["pageInfo"]["endCursor"]
    cases = [
        ({"after": listed_cursor, "order": {"metric": "accuracy"}}),
        ({"after": ranked_cursor}),
        ({"after": ranked_cursor, "order": {"metric": "loss"}}),
        ({"after": ranked_cursor, "order": {"metric": "accuracy", "direction": "ASC"}}),
        ({"after": encode("ranked", ["accuracy", "desc", "high", None])}),
    ]
    for variables in cases:
        error = await gql.error(RESULTS, first=5, **variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (variables, error)
    decoded = base64.urlsafe_b64decode(listed_cursor + "=" * (-len(listed_cursor) % 4))
    assert json.loads(decoded)[0] == "listed"  # opaque to clients, but plain for us


@pytest.mark.parametrize("first", [-1, 1001])
async def test_first_out_of_range_is_bad_input(gql, first):
    error = await gql.error(RESULTS, first=first)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


# ties on 0.5 and on 0.9, non-numbers and missing metrics: the tail, in insertion order
RANKED = [
    ("a", {"accuracy": 0.5}),
    ("b", {"accuracy": "0.9"}),
    ("c", {"accuracy": "n/a"}),
    ("d", {"accuracy": 0.5}),
    ("e", None),
    ("f", {"accuracy": "0.5"}),
    ("g", {"loss": 3}),
    ("h", {"accuracy": 0.9}),
    ("i", {"accuracy": 10}),
    ("j", {"accuracy": True}),
]


@pytest.mark.parametrize("direction", ["DESC", "ASC"])
async def test_ranking_by_cursor_keeps_ties_in_insertion_order(gql, direction):
    for training, results in RANKED:
        await create_result(gql, training, results)
    order = {"metric": "accuracy", "direction": direction}
    numbers = (
        ["i", "b", "h", "a", "d", "f"] if direction == "DESC" else ["a", "d", "f", "b", "h", "i"]
    )
    expected = [*numbers, "c", "e", "g", "j"]
    for first in (1, 2, 3, 4, 6, 7, 10, 11):
        assert await walk(gql, first, order=order) == expected
    offset = (await gql.data(LIST, order=order, limit=100))["trainingResults"]
    assert [r["trainingId"] for r in offset] == expected
    for start in range(0, 11, 3):
        page = (await gql.data(LIST, order=order, limit=3, offset=start))["trainingResults"]
        assert [r["trainingId"] for r in page] == expected[start : start + 3]


async def test_a_deleted_result_leaves_the_ranking(gql, db):
    for training, results in RANKED:
        await create_result(gql, training, results)
    await gql.data(
        'mutation { deleteTrainingResult(modelName: "m", modelVersion: "1", trainingId: "i") }'
    )
    assert await db.result_positions.count_documents({"metric": "accuracy"}) == 2 * 5
    order = {"metric": "accuracy"}
    assert await walk(gql, 2, order=order) == ["b", "h", "a", "d", "f", "c", "e", "g", "j"]


async def test_other_lists_page_by_cursor(gql, db, grid):
    for i in range(5):
        await gql.data(
            'mutation($n: String!) { createModel(input: {modelName: $n, modelVersion: "1"}) '
            "{ modelName } }",
            n=f"m{i}",
        )
        await gql.data(
            "mutation($n: String!) { createStrategy(input: {strategyName: $n}) { strategyName } }",
            n=f"s{i}",
        )
    await db.transformations.insert_many([{"id": f"x{i}"} for i in range(5)])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await grid["fs.files"].insert_many(
        [{"filename": f"f{i}", "length": 0, "chunkSize": 1, "uploadDate": start} for i in range(3)]
        + [
            {"filename": f"g{i}", "length": 0, "chunkSize": 1, "uploadDate": start - timedelta(1)}
            for i in range(2)
        ]
    )
    await gql.data(
        'mutation { createTrainingResult(input: {modelName: "m3", modelVersion: "1", '
        'trainingId: "t"}) { trainingId } }'
    )
    lists = {
        "modelsConnection": ("modelName", [f"m{i}" for i in range(5)]),
        "strategiesConnection": ("strategyName", [f"s{i}" for i in range(5)]),
        "transformationsConnection": ("id", [f"x{i}" for i in range(5)]),
        "filesConnection": ("filename", ["g0", "g1", "f0", "f1", "f2"]),
    }
    for field, (key, expected) in lists.items():
        query = f"""query($first: Int, $after: String) {{
          {field}(first: $first, after: $after) {{
            edges {{ cursor node {{ {key} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
        for first in (1, 2, 5):
            seen, after = [], None
            while True:
                page = (await gql.data(query, first=first, after=after))[field]
                seen += [edge["node"][key] for edge in page["edges"]]
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            assert seen == expected, field
    trained = """query($t: Boolean) { modelsConnection(trained: $t, first: 10) {
      edges { node { modelName } } } }"""

    async def names(trained_or_not: bool) -> list[str]:
        edges = (await gql.data(trained, t=trained_or_not))["modelsConnection"]["edges"]
        return [edge["node"]["modelName"] for edge in edges]

    assert await names(True) == ["m3"]
    assert await names(False) == ["m0", "m1", "m2", "m4"]


async def test_a_connection_costs_its_page(gql):
    query = """{ trainingResultsConnection(first: 1000) { edges { node {
      trainingId model { trainingResults { trainingId } } } } } }"""
    error = await gql.error(query)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    small = query.replace("1000", "10")
    assert (await gql.data(small))["trainingResultsConnection"]["edges"] == []


async def test_backfilled_results_rank_like_written_ones(gql, db):
    await db.results.insert_many(
        [
            {"model_name": "m", "model_version": "1", "training_id": t, "results": r}
            for t, r in RANKED
        ]
    )
    assert await backfill(db) == len(RANKED)
    assert await backfill(db) == 0  # idempotent
    order = {"metric": "accuracy"}
    assert await walk(gql, 3, order=order) == ["i", "b", "h", "a", "d", "f", "c", "e", "g", "j"]
