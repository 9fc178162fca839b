"""Training results ranked by a metric, numerically even where it was stored as a string."""

from flrepo.documents.backfill import backfill
from helpers import GraphQL

RANKED = """
query($name: String, $order: ResultOrder, $conf: String, $limit: Int, $offset: Int) {
  trainingResults(modelName: $name, orderBy: $order, configurationId: $conf,
                  limit: $limit, offset: $offset) { trainingId }
}"""

# As the original stored them: strings mostly, some numbers, some junk.
METRICS = {
    "a": {"accuracy": "0.2429"},
    "b": {"accuracy": "0.9"},
    "c": {"accuracy": 0.5},
    "d": {"accuracy": "10"},  # a string sort would put this first... or anywhere but first
    "e": {"accuracy": "n/a"},
    "f": {"loss": 1.0},
    "g": {"accuracy": None},
    "h": {"accuracy": 3},
    "i": {"accuracy": "NaN"},
    "j": {"accuracy": True},
}


async def seed(db, name: str, conf_of=lambda training: "cfg") -> None:
    await db.results.insert_many(
        [
            {
                "model_name": name,
                "model_version": "1",
                "training_id": training,
                "configuration_id": conf_of(training),
                "results": results,
            }
            for training, results in METRICS.items()
        ]
        + [{"model_name": name, "model_version": "1", "training_id": "k", "results": None}]
    )
    await backfill(db)  # written behind the server's back, as a restore does


async def ranked(gql: GraphQL, **variables) -> list[str]:
    data = await gql.data(RANKED, **variables)
    return [r["trainingId"] for r in data["trainingResults"]]


async def test_ordering_by_a_string_stored_metric_is_numeric(gql, db):
    await seed(db, "m")
    last = ["e", "f", "g", "i", "j", "k"]  # insertion order among the non-numbers
    desc = await ranked(gql, name="m", order={"metric": "accuracy", "direction": "DESC"})
    assert desc == ["d", "h", "b", "c", "a", *last]
    asc = await ranked(gql, name="m", order={"metric": "accuracy", "direction": "ASC"})
    assert asc == ["a", "c", "b", "h", "d", *last]
    assert await ranked(gql, name="m", order={"metric": "accuracy"}) == desc


async def test_ranked_pages_follow_the_ranking(gql, db):
    await seed(db, "m")
    order = {"metric": "accuracy"}
    pages = [await ranked(gql, name="m", order=order, limit=3, offset=n) for n in (0, 3, 6, 9)]
    assert [training for page in pages for training in page] == await ranked(
        gql, name="m", order=order
    )


async def test_metric_names_are_plain_keys(gql, db):
    await db.results.insert_many(
        [
            {"model_name": "m", "model_version": "1", "training_id": t, "results": r}
            for t, r in [("x", {"val.acc": "0.1"}), ("y", {"val.acc": "0.7"}), ("z", {"$v": 1})]
        ]
    )
    await backfill(db)
    assert await ranked(gql, order={"metric": "val.acc"}) == ["y", "x", "z"]
    assert await ranked(gql, order={"metric": "$v"}) == ["z", "x", "y"]


async def test_filter_by_configuration_id(gql, db):
    await seed(db, "m", conf_of=lambda training: "even" if ord(training) % 2 == 0 else "odd")
    got = await ranked(gql, conf="even", order={"metric": "accuracy"})
    assert got == ["d", "h", "b", "f", "j"]
    assert await ranked(gql, conf="even") == ["b", "d", "f", "h", "j"]
    assert await ranked(gql, conf="nobody") == []


async def test_an_empty_metric_name_is_bad_input(gql):
    error = await gql.error(RANKED, order={"metric": ""})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await gql.error(RANKED, order={"metric": "accuracy", "direction": "SIDEWAYS"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
