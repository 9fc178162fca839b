"""GraphQL over HTTP: FL strategies and their pickled objects."""

import hashlib

from helpers import FILE_FIELDS, GraphQL, grid_counts

STRATEGY_FIELDS = f"strategyName strategyDescription meta file {{ {FILE_FIELDS} }}"

CREATE = f"""
mutation($input: CreateStrategyInput!) {{ createStrategy(input: $input) {{ {STRATEGY_FIELDS} }} }}
"""

GET = f"""
query($name: String!) {{ strategy(strategyName: $name) {{ {STRATEGY_FIELDS} }} }}
"""

UPLOAD = f"""
mutation($name: String!, $file: Upload!) {{
  uploadStrategyFile(strategyName: $name, file: $file) {{ {STRATEGY_FIELDS} }}
}}"""


async def create(gql: GraphQL, name: str, **more) -> dict:
    return (await gql.data(CREATE, input={"strategyName": name, **more}))["createStrategy"]


async def test_create_strategy_stores_the_original_layout(gql, db):
    meta = {"rounds": "10", "fraction_fit": "0.5"}
    created = await create(gql, "fedavg", strategyDescription="Federated averaging", meta=meta)
    assert created == {
        "strategyName": "fedavg",
        "strategyDescription": "Federated averaging",
        "meta": meta,
        "file": None,
    }
    assert await db.strategies.find_one({}, {"_id": 0, "created_at": 0}) == {
        "strategy_name": "fedavg",
        "strategy_description": "Federated averaging",
        "meta": meta,
        "strategy_id": None,
    }
    assert (await gql.data(GET, name="fedavg"))["strategy"] == created
    assert (await gql.data(GET, name="fedprox"))["strategy"] is None


async def test_strategies_list_in_creation_order_with_pages(gql):
    for name in ("s1", "s2", "s3"):
        await create(gql, name)

    async def names(**args) -> list[str]:
        query = "query($limit: Int, $offset: Int) { strategies(limit: $limit, offset: $offset) { strategyName } }"  # noqa: E501
        return [s["strategyName"] for s in (await gql.data(query, **args))["strategies"]]

    assert await names() == ["s1", "s2", "s3"]
    assert await names(limit=1) == ["s1"]
    assert await names(offset=1) == ["s2", "s3"]
    assert await names(limit=1, offset=2) == ["s3"]


async def test_update_strategy_meta(gql, db):
    await create(gql, "fedavg", meta={"old": "1"})
    updated = await gql.data(
        'mutation { updateStrategyMeta(strategyName: "fedavg", meta: {rounds: "5"}) { meta } }'
    )
    assert updated["updateStrategyMeta"]["meta"] == {"rounds": "5"}
    assert (await db.strategies.find_one())["meta"] == {"rounds": "5"}


async def test_upload_strategy_file_replaces_and_delete_removes_both(gql, client, db, grid):
    await create(gql, "fedavg")
    first = await gql.upload_data(UPLOAD, {"name": "fedavg"}, b"first pickle")
    first_file = first["uploadStrategyFile"]["file"]
    assert first_file["filename"] == "strategy/fedavg"

    second_data = b"\x80\x04second pickle" * 1000
    second = await gql.upload_data(UPLOAD, {"name": "fedavg"}, second_data)
    second_file = second["uploadStrategyFile"]["file"]
    assert second_file["id"] != first_file["id"]
    assert second_file["sha256"] == hashlib.sha256(second_data).hexdigest()
    assert (await db.strategies.find_one())["strategy_id"] == second_file["id"]
    # The first file is kept as a revision until deleted (test_revisions.py).
    assert await grid_counts(grid) == (2, 2)
    assert (await client.get(first_file["downloadUrl"])).content == b"first pickle"
    assert (await client.get(second_file["downloadUrl"])).content == second_data

    assert await gql.data('mutation { deleteStrategy(strategyName: "fedavg") }') == {
        "deleteStrategy": True
    }
    assert (await gql.data(GET, name="fedavg"))["strategy"] is None
    assert await db.strategies.count_documents({}) == 0
    assert await grid_counts(grid) == (0, 0)
