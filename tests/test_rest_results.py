"""REST contract of the `/training-results` routes, against a real server process: what
only this collection does (what every collection does is in test_rest_collections.py)."""

import base64
import hashlib
import os

import requests
from bson import ObjectId
from rest_fixtures import (
    assert_created,
    assert_detail,
    assert_invalid,
    assert_no_content,
    mine,
    put_file,
)

pytest_plugins = ["rest_fixtures"]


def create_result(server, name, training_id, version="1", configuration_id="cfg", **extra):
    body = {
        "model_name": name,
        "model_version": version,
        "training_id": training_id,
        "configuration_id": configuration_id,
        **extra,
    }
    assert_created(requests.post(server("/training-results"), json=body))


def weights_url(server, name, training_id, version="1"):
    return server(f"/training-results/weights/{name}/{version}/{training_id}")


def test_create_result_stores_the_original_layout(rest_server, uid):
    results = {"rounds": "3", "accuracy": 0.24}
    create_result(rest_server, uid, "run-1", results=results)
    # as the original stored them: pydantic 1 made numbers text in `Union[str, float]`
    results = {"rounds": "3", "accuracy": "0.24"}
    stored = rest_server.db.results.find_one(
        {"model_name": uid}, {"_id": 0, "created_at": 0, "metrics_numeric": 0}
    )
    assert stored == {
        "model_name": uid,
        "model_version": "1",
        "training_id": "run-1",
        "configuration_id": "cfg",
        "results": results,
        "weights_id": None,
    }


def test_create_existing_result_is_400(rest_server, uid):
    create_result(rest_server, uid, "run-1", results={"accuracy": "0.5"})
    body = {"model_name": uid, "model_version": "1", "training_id": "run-1", "results": {}}
    assert "run-1" in assert_detail(requests.post(rest_server("/training-results"), json=body), 400)
    stored = list(rest_server.db.results.find({"model_name": uid}))
    assert [doc["results"] for doc in stored] == [{"accuracy": "0.5"}]


def test_create_result_without_training_id_is_422(rest_server, uid):
    body = {"model_name": uid, "model_version": "1"}
    errors = assert_invalid(requests.post(rest_server("/training-results"), json=body))
    assert ["body", "training_id"] in [e["loc"] for e in errors]
    assert rest_server.db.results.count_documents({"model_name": uid}) == 0


def test_list_results_without_id(rest_server, uid):
    create_result(rest_server, uid, "run-1", results={"rounds": 3})
    create_result(rest_server, uid, "run-2", version="2")
    for path in ("/training-results", "/training-results/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        assert all("_id" not in doc for doc in response.json())
        listed = mine(response.json(), "model_name", uid)
        assert [(r["model_version"], r["training_id"]) for r in listed] == [
            ("1", "run-1"),
            ("2", "run-2"),
        ]
        assert listed[0] == {
            "model_name": uid,
            "model_version": "1",
            "training_id": "run-1",
            "configuration_id": "cfg",
            "results": {"rounds": "3"},  # sent as 3: stored as the original did, as text
            "weights_id": None,
        }


def test_list_results_of_one_model_version(rest_server, uid):
    create_result(rest_server, uid, "run-1")
    create_result(rest_server, uid, "run-2")
    create_result(rest_server, uid, "run-3", version="2")
    response = requests.get(rest_server(f"/training-results/{uid}/1"))
    assert response.status_code == 200
    assert all("_id" not in doc for doc in response.json())
    assert [r["training_id"] for r in response.json()] == ["run-1", "run-2"]
    assert {r["model_name"] for r in response.json()} == {uid}


def test_list_results_of_an_unknown_model_is_empty(rest_server, uid):
    response = requests.get(rest_server(f"/training-results/{uid}/1"))
    assert response.status_code == 200
    assert response.json() == []


def test_upload_weights_names_the_file_by_configuration(rest_server, uid):
    create_result(rest_server, uid, "run-1", configuration_id="ignored")
    data = os.urandom(50_000)
    url = rest_server(f"/training-results/{uid}/1/run-1/cfg-7")
    assert_no_content(put_file(url, data, "weights.npz"))

    result = rest_server.db.results.find_one({"model_name": uid})
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(result["weights_id"])})
    assert record["filename"] == f"weights/{uid}/1/cfg-7"
    assert record["training_id"] == "run-1"
    assert record["length"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_weights_come_back_as_base64(rest_server, uid):
    create_result(rest_server, uid, "run-1")
    data = os.urandom(3 * 256 * 1024 * 2 + 1001)  # more than one base64 block, odd length
    put_file(rest_server(f"/training-results/{uid}/1/run-1/cfg"), data).raise_for_status()

    response = requests.get(weights_url(rest_server, uid, "run-1"))
    assert response.status_code == 200
    assert "content-type" not in response.headers  # bare base64 text, as the original sent
    assert response.headers["content-length"] == str(len(response.content))
    assert base64.b64decode(response.content, validate=True) == data


def test_head_of_the_weights_answers_the_get_headers_without_the_body(rest_server, uid):
    create_result(rest_server, uid, "run-1")
    data = b"\x80\x04K\x01." + os.urandom(1000)
    put_file(rest_server(f"/training-results/{uid}/1/run-1/cfg"), data).raise_for_status()
    url = weights_url(rest_server, uid, "run-1")

    get, head = requests.get(url), requests.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "x-pickle-safety"):
        assert head.headers[name] == get.headers[name], name
    assert "content-type" not in head.headers and "content-type" not in get.headers
    assert head.headers["content-length"] == str(len(get.content))
    raw = requests.head(url, headers={"Accept": "application/octet-stream"})
    assert raw.headers["content-length"] == str(len(data))
    assert requests.head(weights_url(rest_server, uid, "run-2")).status_code == 404


def test_weights_of_every_length_modulo_three(rest_server, uid):
    for n, data in enumerate([b"", b"a", b"ab", b"abc", os.urandom(3 * 256 * 1024)]):
        training_id = f"run-{n}"
        create_result(rest_server, uid, training_id)
        url = rest_server(f"/training-results/{uid}/1/{training_id}/cfg")
        put_file(url, data).raise_for_status()
        response = requests.get(weights_url(rest_server, uid, training_id))
        assert response.status_code == 200
        assert base64.b64decode(response.content, validate=True) == data


def test_delete_result_removes_its_weights(rest_server, uid):
    create_result(rest_server, uid, "run-1")
    create_result(rest_server, uid, "run-2")
    put_file(rest_server(f"/training-results/{uid}/1/run-1/cfg"), b"w" * 1000).raise_for_status()
    stored = rest_server.db.results.find_one({"model_name": uid, "training_id": "run-1"})
    weights_id = ObjectId(stored["weights_id"])

    assert_no_content(requests.delete(rest_server(f"/training-results/{uid}/1/run-1")))
    assert [r["training_id"] for r in rest_server.db.results.find({"model_name": uid})] == ["run-2"]
    assert rest_server.grid["fs.files"].count_documents({"_id": weights_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": weights_id}) == 0
