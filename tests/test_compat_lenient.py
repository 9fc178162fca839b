"""REST bodies take what the original's pydantic 1 models coerced, stored as it stored them."""

import httpx
import pytest
from flrepo.rest_compat.bodies import TransformationBody
from pymongo.asynchronous.database import AsyncDatabase

NEEDS = {"storage": "10", "RAM": 2, "GPU": "true", "preinstalled_libraries": {"numpy": 1.26}}


async def test_numbers_for_names_are_stored_as_their_text(client: httpx.AsyncClient, db):
    body = {"model_name": "m", "model_version": 1, "meta": {"library": 5, "description": True}}
    assert (await client.post("/model", json=body)).status_code == 201
    result = {"model_name": "m", "model_version": 1, "training_id": 13, "configuration_id": 10}
    assert (await client.post("/training-results", json=result)).status_code == 201
    model = await db.models.find_one({}, {"_id": 0})
    assert model["model_version"] == "1"
    assert model["meta"] == {"library": "5", "description": "True"}  # pydantic 1's str(True)
    stored = await db.results.find_one({}, {"_id": 0})
    assert (stored["model_version"], stored["training_id"], stored["configuration_id"]) == (
        "1",
        "13",
        "10",
    )
    # The same path then finds them, as the original's clients ask for them.
    assert (await client.get("/training-results/m/1")).json()[0]["training_id"] == "13"


async def test_needs_as_pydantic_1_read_them(client: httpx.AsyncClient, db: AsyncDatabase):
    body = {"id": "t", "outputs": [1, 2.5], "parameter_types": {"x": 1}, "needs": NEEDS}
    assert (await client.post("/transformation", json=body)).status_code == 201
    stored = await db.transformations.find_one({"id": "t"})
    assert stored["needs"]["storage"] == 10.0 and stored["needs"]["RAM"] == 2.0
    assert stored["needs"]["GPU"] is True
    assert stored["needs"]["preinstalled_libraries"] == {"numpy": "1.26"}
    assert stored["outputs"] == ["1", "2.5"] and stored["parameter_types"] == {"x": "1"}


@pytest.mark.parametrize(("sent", "gpu"), [("1", True), (1, True), ("no", False), (0.0, False)])
def test_booleans_as_pydantic_1_read_them(sent, gpu):
    assert TransformationBody.model_validate({"id": "t", "needs": {"GPU": sent}}).needs.gpu is gpu


@pytest.mark.parametrize(
    "needs", [{"storage": "nan"}, {"RAM": "inf"}, {"storage": "ten"}, {"GPU": 2}, {"GPU": None}]
)
async def test_what_cannot_be_stored_or_was_refused_stays_422(client: httpx.AsyncClient, needs):
    response = await client.post("/transformation", json={"id": "t", "needs": needs})
    if needs == {"GPU": None}:  # ours took a null GPU as false before: it still does
        assert response.status_code == 201
        return
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", "needs"]


async def test_strategy_meta_numbers_become_text(client: httpx.AsyncClient, db: AsyncDatabase):
    body = {"strategy_name": "s", "strategy_description": 2, "meta": {"rounds": 3}}
    assert (await client.post("/strategy", json=body)).status_code == 201
    update = await client.put("/strategy/meta/s", json={"meta": {"rounds": 5, "fraction": 0.5}})
    assert update.status_code == 204 and "content-type" not in update.headers
    stored = await db.strategies.find_one({"strategy_name": "s"})
    assert stored["strategy_description"] == "2"
    assert stored["meta"] == {"rounds": "5", "fraction": "0.5"}


async def test_results_store_numbers_as_text(client: httpx.AsyncClient, db: AsyncDatabase):
    """As the original: pydantic 1 tried `str` first in `Dict[str, Union[str, float]]`, so
    numbers and booleans became their text; a ranking still reads them as numbers."""
    results = {"acc": 0.9, "rounds": 3, "done": True, "note": "ok"}
    body = {"model_name": "m", "model_version": "1", "training_id": "t", "results": results}
    assert (await client.post("/training-results", json=body)).status_code == 201
    stored = (await db.results.find_one({}))["results"]
    assert stored == {"acc": "0.9", "rounds": "3", "done": "True", "note": "ok"}
    listed = (await client.get("/training-results")).json()[0]["results"]
    assert listed == stored
    query = '{ trainingResults(orderBy: {metric: "acc"}) { trainingId } }'
    ranked = (await client.post("/graphql", json={"query": query})).json()
    assert ranked["data"]["trainingResults"] == [{"trainingId": "t"}], ranked


async def test_graphql_stays_strict(client: httpx.AsyncClient):
    query = 'mutation { createModel(input: {modelName: "g", modelVersion: 1}) { modelName } }'
    response = await client.post("/graphql", json={"query": query})
    assert response.json()["errors"], response.text
    assert "data" not in response.json() or response.json()["data"] is None
