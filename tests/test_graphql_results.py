"""GraphQL over HTTP: training results, their weights, and the model they belong to."""

import hashlib

from helpers import FILE_FIELDS, GraphQL

RESULT_FIELDS = f"""modelName modelVersion trainingId configurationId results
  weights {{ {FILE_FIELDS} }} model {{ modelName modelVersion meta {{ library }} }}"""

CREATE = f"""
mutation($input: CreateTrainingResultInput!) {{
  createTrainingResult(input: $input) {{ {RESULT_FIELDS} }}
}}"""

GET = f"""
query($name: String!, $version: String!, $training: String!) {{
  trainingResult(modelName: $name, modelVersion: $version, trainingId: $training) {{
    {RESULT_FIELDS}
  }}
}}"""

UPLOAD = f"""
mutation($name: String!, $version: String!, $training: String!, $conf: String!, $file: Upload!) {{
  uploadTrainingWeights(modelName: $name, modelVersion: $version, trainingId: $training,
                        configurationId: $conf, file: $file) {{ {RESULT_FIELDS} }}
}}"""

LIST = """
query($name: String, $version: String, $limit: Int, $offset: Int) {
  trainingResults(modelName: $name, modelVersion: $version, limit: $limit, offset: $offset) {
    modelName modelVersion trainingId
  }
}"""


async def create(gql: GraphQL, name: str, version: str, training: str, **more) -> dict:
    input = {"modelName": name, "modelVersion": version, "trainingId": training, **more}
    return (await gql.data(CREATE, input=input))["createTrainingResult"]


async def test_create_training_result_stores_the_original_layout(gql, db):
    await gql.data(
        'mutation { createModel(input: {modelName: "mnist", modelVersion: "1",'
        ' meta: {library: "keras"}}) { modelName } }'
    )
    results = {"rounds": "3", "accuracy": 0.24, "loss": 1.5}
    created = await create(gql, "mnist", "1", "run-1", configurationId="conf-a", results=results)
    assert created == {
        "modelName": "mnist",
        "modelVersion": "1",
        "trainingId": "run-1",
        "configurationId": "conf-a",
        "results": results,
        "weights": None,
        "model": {"modelName": "mnist", "modelVersion": "1", "meta": {"library": "keras"}},
    }
    assert await db.results.find_one({}, {"_id": 0, "created_at": 0, "metrics_numeric": 0}) == {
        "model_name": "mnist",
        "model_version": "1",
        "training_id": "run-1",
        "configuration_id": "conf-a",
        "results": results,
        "weights_id": None,
    }
    got = await gql.data(GET, name="mnist", version="1", training="run-1")
    assert got["trainingResult"] == created


async def test_training_result_of_a_missing_model_and_absent_result(gql):
    created = await create(gql, "nomodel", "1", "t")
    assert created["model"] is None
    assert created["configurationId"] is None
    assert created["results"] is None
    assert (await gql.data(GET, name="nomodel", version="1", training="u"))[
        "trainingResult"
    ] is None
    assert (await gql.data(GET, name="nomodel", version="2", training="t"))[
        "trainingResult"
    ] is None


async def test_training_results_filters_and_pages(gql):
    for name, version, training in [("a", "1", "t1"), ("a", "2", "t2"), ("b", "1", "t3")]:
        await create(gql, name, version, training)
    await create(gql, "a", "1", "t4")

    async def ids(**args) -> list[str]:
        return [r["trainingId"] for r in (await gql.data(LIST, **args))["trainingResults"]]

    assert await ids() == ["t1", "t2", "t3", "t4"]
    assert await ids(name="a") == ["t1", "t2", "t4"]
    assert await ids(name="a", version="1") == ["t1", "t4"]
    assert await ids(version="1") == ["t1", "t3", "t4"]
    assert await ids(name="c") == []
    assert await ids(limit=2, offset=1) == ["t2", "t3"]
    assert await ids(name="a", offset=2) == ["t4"]


async def test_upload_weights_names_the_file_as_the_original(gql, client, db, grid):
    await create(gql, "mnist", "1", "run-1", configurationId="conf-a")
    data = bytes(range(256)) * 50
    variables = {"name": "mnist", "version": "1", "training": "run-1", "conf": "conf-a"}
    result = (await gql.upload_data(UPLOAD, variables, data))["uploadTrainingWeights"]
    weights = result["weights"]
    assert weights["filename"] == "weights/mnist/1/conf-a"
    assert weights["length"] == len(data)
    assert weights["sha256"] == hashlib.sha256(data).hexdigest()

    stored = await db.results.find_one({"training_id": "run-1"})
    assert stored["weights_id"] == weights["id"]
    file_doc = await grid["fs.files"].find_one()
    assert str(file_doc["_id"]) == weights["id"]
    assert file_doc["training_id"] == "run-1"  # top-level, as the original wrote it
    assert file_doc["sha256"] == weights["sha256"]

    response = await client.get(weights["downloadUrl"])
    assert response.content == data
    got = await gql.data(GET, name="mnist", version="1", training="run-1")
    assert got["trainingResult"]["weights"] == weights
