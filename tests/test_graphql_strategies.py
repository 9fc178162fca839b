"""GraphQL over HTTP: FL strategies and their pickled objects."""

from helpers import FILE_FIELDS, GraphQL

STRATEGY_FIELDS = f"strategyName strategyDescription meta file {{ {FILE_FIELDS} }}"

CREATE = f"""
mutation($input: CreateStrategyInput!) {{ createStrategy(input: $input) {{ {STRATEGY_FIELDS} }} }}
"""

GET = f"""
query($name: String!) {{ strategy(strategyName: $name) {{ {STRATEGY_FIELDS} }} }}
"""


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


async def test_update_strategy_meta(gql, db):
    await create(gql, "fedavg", meta={"old": "1"})
    updated = await gql.data(
        'mutation { updateStrategyMeta(strategyName: "fedavg", meta: {rounds: "5"}) { meta } }'
    )
    assert updated["updateStrategyMeta"]["meta"] == {"rounds": "5"}
    assert (await db.strategies.find_one())["meta"] == {"rounds": "5"}
