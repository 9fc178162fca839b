"""GraphQL error codes (API.md section 2): each failure says what kind it is and writes nothing."""

import logging

import pytest
from flrepo.documents.files import FileStore
from flrepo.operations import models as model_resolvers
from helpers import GraphQL, collection_counts, grid_counts

NOTHING = {"models": 0, "results": 0, "strategies": 0, "transformations": 0}

CREATE = {
    "model": (
        "mutation($n: String!) { createModel(input: {modelName: $n, modelVersion: $n}) "
        "{ modelName } }"
    ),
    "result": (
        "mutation($n: String!) { createTrainingResult(input: "
        "{modelName: $n, modelVersion: $n, trainingId: $n}) { trainingId } }"
    ),
    "strategy": "mutation($n: String!) { createStrategy(input: {strategyName: $n}) { meta } }",
    "transformation": "mutation($n: String!) { createTransformation(input: {id: $n}) { id } }",
}

COLLECTION = {
    "model": "models",
    "result": "results",
    "strategy": "strategies",
    "transformation": "transformations",
}

UPDATE = {
    "model": (
        "mutation($n: String!) { updateModelMeta(modelName: $n, modelVersion: $n, "
        'meta: {library: "x"}) { modelName } }'
    ),
    "strategy": (
        'mutation($n: String!) { updateStrategyMeta(strategyName: $n, meta: {a: "b"}) { meta } }'
    ),
    "transformation": (
        'mutation($n: String!) { updateTransformation(input: {id: $n, description: "d"}) { id } }'
    ),
}

UPLOAD = {
    "model": (
        "mutation($n: String!, $file: Upload!) { uploadModelFile(modelName: $n, modelVersion: $n, "
        "file: $file) { modelName } }"
    ),
    "result": (
        "mutation($n: String!, $file: Upload!) { uploadTrainingWeights(modelName: $n, "
        "modelVersion: $n, trainingId: $n, configurationId: $n, file: $file) { trainingId } }"
    ),
    "strategy": (
        "mutation($n: String!, $file: Upload!) { uploadStrategyFile(strategyName: $n, "
        "file: $file) { meta } }"
    ),
    "transformation": (
        "mutation($n: String!, $file: Upload!) { uploadTransformationFile(id: $n, file: $file) "
        "{ id } }"
    ),
}

DELETE = {
    "model": "mutation($n: String!) { deleteModel(modelName: $n, modelVersion: $n) }",
    "result": (
        "mutation($n: String!) { deleteTrainingResult(modelName: $n, modelVersion: $n, "
        "trainingId: $n) }"
    ),
    "strategy": "mutation($n: String!) { deleteStrategy(strategyName: $n) }",
    "transformation": "mutation($n: String!) { deleteTransformation(id: $n) }",
}

INVALID_NAMES = ["", "a/b", "bell\x07", "line\nbreak", "$where", "x" * 257]


@pytest.mark.parametrize("kind", CREATE)
async def test_duplicate_create_is_already_exists(gql: GraphQL, db, kind):
    await gql.data(CREATE[kind], n="same")
    error = await gql.error(CREATE[kind], n="same")
    assert error["extensions"]["code"] == "ALREADY_EXISTS"
    assert "already exists" in error["message"]
    assert await db[COLLECTION[kind]].count_documents({}) == 1
    await gql.data(CREATE[kind], n="different")  # only the same key collides
    assert await db[COLLECTION[kind]].count_documents({}) == 2


async def test_same_name_other_version_is_not_a_duplicate(gql: GraphQL, db):
    query = 'mutation($v: String!) { createModel(input: {modelName: "m", modelVersion: $v}) { modelVersion } }'  # noqa: E501
    await gql.data(query, v="1")
    await gql.data(query, v="2")
    assert (await gql.error(query, v="2"))["extensions"]["code"] == "ALREADY_EXISTS"
    result = 'mutation($t: String!) { createTrainingResult(input: {modelName: "m", modelVersion: "1", trainingId: $t}) { trainingId } }'  # noqa: E501
    await gql.data(result, t="a")
    await gql.data(result, t="b")
    assert (await gql.error(result, t="a"))["extensions"]["code"] == "ALREADY_EXISTS"
    assert await collection_counts(db) == {**NOTHING, "models": 2, "results": 2}


@pytest.mark.parametrize("kind", UPDATE)
async def test_update_of_a_missing_target_is_not_found(gql: GraphQL, db, kind):
    await gql.data(CREATE[kind], n="present")
    error = await gql.error(UPDATE[kind], n="absent")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "does not exist" in error["message"]
    assert await db[COLLECTION[kind]].count_documents({}) == 1


@pytest.mark.parametrize("kind", UPLOAD)
async def test_upload_to_a_missing_target_is_not_found_and_stores_nothing(
    gql: GraphQL, db, grid, kind
):
    await gql.data(CREATE[kind], n="present")
    body = await gql.upload(UPLOAD[kind], {"n": "absent"}, b"orphan?" * 50_000)
    assert gql_code(body) == "NOT_FOUND"
    assert await grid_counts(grid) == (0, 0)
    assert await db[COLLECTION[kind]].count_documents({}) == 1


@pytest.mark.parametrize("kind", DELETE)
async def test_delete_of_a_missing_target_is_not_found(gql: GraphQL, db, kind):
    await gql.data(CREATE[kind], n="present")
    error = await gql.error(DELETE[kind], n="absent")
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await db[COLLECTION[kind]].count_documents({}) == 1
    assert await gql.data(DELETE[kind], n="present")
    assert (await gql.error(DELETE[kind], n="present"))["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("kind", CREATE)
@pytest.mark.parametrize("name", INVALID_NAMES, ids=["empty", "slash", "bell", "nl", "$", "257"])
async def test_invalid_name_on_create_is_bad_user_input(gql: GraphQL, db, kind, name):
    error = await gql.error(CREATE[kind], n=name)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await collection_counts(db) == NOTHING


@pytest.mark.parametrize("kind", UPLOAD)
@pytest.mark.parametrize("name", INVALID_NAMES, ids=["empty", "slash", "bell", "nl", "$", "257"])
async def test_invalid_name_on_upload_is_bad_user_input(gql: GraphQL, db, grid, kind, name):
    body = await gql.upload(UPLOAD[kind], {"n": name}, b"data" * 1000)
    assert gql_code(body) == "BAD_USER_INPUT"
    assert await collection_counts(db) == NOTHING
    assert await grid_counts(grid) == (0, 0)


async def test_longest_valid_name_is_accepted(gql: GraphQL, db):
    name = "n" * 256
    created = await gql.data(CREATE["strategy"], n=name)
    assert created == {"createStrategy": {"meta": None}}
    assert await db.strategies.find_one({"strategy_name": name}) is not None


async def test_invalid_name_in_the_middle_of_a_key(gql: GraphQL, db):
    error = await gql.error(
        'mutation { createTrainingResult(input: {modelName: "m", modelVersion: "1", '
        'trainingId: "t", configurationId: "a/b"}) { trainingId } }'
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await gql.error('{ models(library: "$ne") { modelName } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await collection_counts(db) == NOTHING


@pytest.mark.parametrize(
    "query",
    [
        'mutation { createStrategy(input: {strategyName: "s", meta: ["a"]}) { meta } }',
        'mutation { createStrategy(input: {strategyName: "s", meta: {a: {$gt: 1}}}) { meta } }',
        'mutation { createTrainingResult(input: {modelName: "m", modelVersion: "1", '
        'trainingId: "t", results: 3}) { results } }',
        'mutation { createTransformation(input: {id: "t", defaultValues: "x"}) { id } }',
        'mutation { createTransformation(input: {id: "t", parameterTypes: {"$k": "int"}}) { id } }',
    ],
    ids=["meta-list", "meta-$key", "results-number", "defaults-string", "types-$key"],
)
async def test_invalid_json_objects_are_bad_user_input(gql: GraphQL, db, query):
    assert (await gql.error(query))["extensions"]["code"] == "BAD_USER_INPUT"
    assert await collection_counts(db) == NOTHING


async def test_update_with_invalid_meta_changes_nothing(gql: GraphQL, db):
    await gql.data(
        'mutation { createStrategy(input: {strategyName: "s", meta: {a: "1"}}) { meta } }'
    )
    error = await gql.error(
        'mutation { updateStrategyMeta(strategyName: "s", meta: [1]) { meta } }'
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (await db.strategies.find_one())["meta"] == {"a": "1"}


@pytest.mark.parametrize(
    "query",
    [
        "{ models(limit: 1001) { modelName } }",
        "{ models(limit: -1) { modelName } }",
        "{ trainingResults(offset: -1) { trainingId } }",
        "{ strategies(limit: 5000) { strategyName } }",
        "{ transformations(offset: -5) { id } }",
        "{ files(limit: 1001) { id } }",
        "{ models(trained: true, limit: 1001) { modelName } }",
    ],
)
async def test_out_of_range_pages_are_bad_user_input(gql: GraphQL, query):
    assert (await gql.error(query))["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "query",
    [
        "{ models { modelName ",
        "{ models { noSuchField } }",
        "mutation { createModel(input: {modelName: 1}) { modelName } }",
    ],
    ids=["syntax", "unknown-field", "wrong-type"],
)
async def test_malformed_operations_are_bad_user_input(gql: GraphQL, query):
    body = await gql.client.post("/graphql", json={"query": query})
    errors = body.json()["errors"]
    assert errors
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}


async def test_unexpected_exception_is_masked(gql: GraphQL, monkeypatch, caplog):
    secret = "connection string mongodb://admin:hunter2@db.internal/ in /srv/app/secret.py"

    async def broken(*args, **kwargs):
        raise RuntimeError(secret)

    monkeypatch.setattr(model_resolvers, "list_models", broken)
    with caplog.at_level(logging.ERROR, logger="flrepo.graphql"):
        response = await gql.client.post("/graphql", json={"query": "{ models { modelName } }"})
    assert response.status_code == 200
    body = response.json()
    error = only(body["errors"])
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == "Internal server error."
    for leak in ("hunter2", "secret.py", "RuntimeError", "Traceback", 'File "'):
        assert leak not in response.text
    assert set(error["extensions"]) == {"code"}
    # ...but the operator can see what happened
    assert "hunter2" in caplog.text
    assert "RuntimeError" in caplog.text


async def test_unexpected_exception_in_a_nested_field_is_masked(gql: GraphQL, monkeypatch):
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    await gql.upload_data(
        'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", '
        "file: $file) { modelName } }",
        {},
        b"model",
    )

    async def broken(self, file_ids):
        raise KeyError("internal key name")

    monkeypatch.setattr(FileStore, "get_many", broken)
    body = await gql.raw("{ models { modelName file { id } } }")
    error = only(body["errors"])
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == "Internal server error."
    assert error["path"] == ["models", 0, "file"]
    assert "internal key name" not in str(body)
    assert body["data"] == {"models": [{"modelName": "m", "file": None}]}


def only(errors: list[dict]) -> dict:
    assert len(errors) == 1, errors
    return errors[0]


def gql_code(body: dict) -> str:
    error = only(body.get("errors") or [])
    return error["extensions"]["code"]
