"""The REST routes and GraphQL share one repository: what one writes, the other serves."""

import base64
import hashlib
import os

import requests
from rest_fixtures import assert_created, assert_detail, assert_no_content, mine, put_file

pytest_plugins = ["rest_fixtures"]

FILE = "id filename length sha256 downloadUrl"


def graphql(server, query, **variables):
    response = requests.post(server("/graphql"), json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


MODEL = f"""
query($name: String!, $version: String!) {{
  model(modelName: $name, modelVersion: $version) {{
    modelName modelVersion meta {{ library description }} file {{ {FILE} }}
    trainingResults {{ trainingId configurationId results weights {{ {FILE} }} }}
  }}
}}"""


def test_model_created_over_rest_is_visible_in_graphql(rest_server, uid):
    meta = {"library": "keras", "description": "a CNN"}
    body = {"model_name": uid, "model_version": "1.0", "meta": meta}
    assert_created(requests.post(rest_server("/model"), json=body))

    model = graphql(rest_server, MODEL, name=uid, version="1.0")["model"]
    assert model == {
        "modelName": uid,
        "modelVersion": "1.0",
        "meta": meta,
        "file": None,
        "trainingResults": [],
    }
    listed = graphql(
        rest_server, "query($n: String) { models(modelName: $n) { modelVersion } }", n=uid
    )
    assert listed["models"] == [{"modelVersion": "1.0"}]


def test_model_created_in_graphql_is_visible_over_rest(rest_server, uid):
    graphql(
        rest_server,
        """mutation($name: String!) {
          createModel(input: {modelName: $name, modelVersion: "2", meta: {library: "torch"}}) {
            modelName
          }
        }""",
        name=uid,
    )
    expected = {
        "model_name": uid,
        "model_version": "2",
        "meta": {"library": "torch", "description": None},
        "model_id": None,
    }
    response = requests.get(
        rest_server("/model/meta"), params={"model_name": uid, "model_version": "2"}
    )
    assert response.status_code == 200
    assert response.json() == expected
    assert mine(requests.get(rest_server("/model")).json(), "model_name", uid) == [expected]

    assert_no_content(requests.delete(rest_server(f"/model/{uid}/2")))
    assert graphql(rest_server, MODEL, name=uid, version="2")["model"] is None


def test_file_uploaded_over_rest_downloads_through_graphql(rest_server, uid):
    assert_created(
        requests.post(rest_server("/model"), json={"model_name": uid, "model_version": "1"})
    )
    data = os.urandom(700_000)
    put_file(rest_server(f"/model/{uid}/1"), data).raise_for_status()

    stored = graphql(rest_server, MODEL, name=uid, version="1")["model"]["file"]
    model_id = rest_server.db.models.find_one({"model_name": uid})["model_id"]
    assert stored["id"] == model_id
    assert stored["filename"] == f"model/{uid}/1"
    assert stored["length"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["downloadUrl"].startswith("/")

    response = requests.get(rest_server(stored["downloadUrl"]))
    assert response.status_code == 200
    assert response.content == data


def test_training_result_and_weights_cross_both_ways(rest_server, uid):
    body = {
        "model_name": uid,
        "model_version": "1",
        "training_id": "rest-run",
        "configuration_id": "cfg",
        "results": {"rounds": "3", "accuracy": 0.9},
    }
    model_body = {"model_name": uid, "model_version": "1"}
    assert_created(requests.post(rest_server("/model"), json=model_body))
    assert_created(requests.post(rest_server("/training-results"), json=body))
    weights = os.urandom(40_000)
    put_file(rest_server(f"/training-results/{uid}/1/rest-run/cfg"), weights).raise_for_status()

    graphql(
        rest_server,
        """mutation($name: String!) {
          createTrainingResult(input: {modelName: $name, modelVersion: "1",
            trainingId: "graphql-run", configurationId: "cfg", results: {loss: 0.1}}) {
            trainingId
          }
        }""",
        name=uid,
    )

    model = graphql(rest_server, MODEL, name=uid, version="1")["model"]
    results = {r["trainingId"]: r for r in model["trainingResults"]}
    assert set(results) == {"rest-run", "graphql-run"}
    # sent over REST as 0.9: stored as the original stored it, as text
    assert results["rest-run"]["results"] == {"rounds": "3", "accuracy": "0.9"}
    downloaded = requests.get(rest_server(results["rest-run"]["weights"]["downloadUrl"]))
    assert downloaded.content == weights
    assert results["graphql-run"]["weights"] is None

    listed = requests.get(rest_server(f"/training-results/{uid}/1")).json()
    assert [(r["training_id"], r["results"]) for r in listed] == [
        ("rest-run", {"rounds": "3", "accuracy": "0.9"}),
        ("graphql-run", {"loss": 0.1}),
    ]
    encoded = requests.get(rest_server(f"/training-results/weights/{uid}/1/rest-run"))
    assert base64.b64decode(encoded.content, validate=True) == weights
    assert_detail(requests.get(rest_server(f"/training-results/weights/{uid}/1/graphql-run")), 404)


def test_strategy_and_transformation_cross_both_ways(rest_server, uid):
    body = {"strategy_name": uid, "strategy_description": "avg", "meta": {"k": "v"}}
    assert_created(requests.post(rest_server("/strategy"), json=body))
    strategy = graphql(
        rest_server,
        "query($n: String!) { strategy(strategyName: $n) { strategyDescription meta } }",
        n=uid,
    )["strategy"]
    assert strategy == {"strategyDescription": "avg", "meta": {"k": "v"}}

    key = f"application.tests.{uid}"
    graphql(
        rest_server,
        """mutation($id: String!) {
          createTransformation(input: {id: $id, description: "d", outputs: ["o"],
            parameterTypes: {a: "int"}, needs: {ram: 2, gpu: true}}) { id }
        }""",
        id=key,
    )
    listed = mine(requests.get(rest_server("/transformation")).json(), "id", key)
    assert listed == [
        {
            "id": key,
            "description": "d",
            "parameter_types": {"a": "int"},
            "default_values": None,
            "outputs": ["o"],
            "needs": {
                "storage": None,
                "RAM": 2.0,
                "GPU": True,
                "preinstalled_libraries": None,
                "available_models": None,
            },
        }
    ]
