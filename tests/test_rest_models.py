"""REST contract of the `/model` routes (API.md §3), against a real server process: what
only this collection does (what every collection does is in test_rest_collections.py)."""

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


def create_model(server, name, version="1.0", meta=None, path="/model"):
    body = {"model_name": name, "model_version": version}
    if meta is not None:
        body["meta"] = meta
    assert_created(requests.post(server(path), json=body))


def test_create_model_stores_the_original_layout(rest_server, uid):
    meta = {"library": "keras", "description": "a CNN for MNIST"}
    assert_created(
        requests.post(
            rest_server("/model"),
            json={"model_name": uid, "model_version": "1.0", "meta": meta},
        )
    )
    stored = rest_server.db.models.find_one(
        {"model_name": uid}, {"_id": 0, "created_at": 0, "trained": 0}
    )
    assert stored == {"model_name": uid, "model_version": "1.0", "meta": meta, "model_id": None}


def test_create_existing_model_is_400_and_keeps_the_first(rest_server, uid):
    create_model(rest_server, uid, meta={"library": "keras", "description": "first"})
    response = requests.post(
        rest_server("/model"),
        json={"model_name": uid, "model_version": "1.0", "meta": {"library": "torch"}},
    )
    assert uid in assert_detail(response, 400)
    stored = list(rest_server.db.models.find({"model_name": uid}, {"_id": 0}))
    assert [doc["meta"]["description"] for doc in stored] == ["first"]


def test_create_model_with_an_invalid_body_is_422(rest_server, uid):
    response = requests.post(rest_server("/model"), json={"model_name": uid})
    errors = assert_invalid(response)
    assert ["body", "model_version"] in [e["loc"] for e in errors]
    assert rest_server.db.models.count_documents({"model_name": uid}) == 0


def test_update_model_meta(rest_server, uid):
    create_model(rest_server, uid, meta={"library": "keras", "description": "old"})
    response = requests.put(
        rest_server(f"/model/meta/{uid}/1.0"), json={"library": "torch", "description": "new"}
    )
    assert_no_content(response)
    stored = rest_server.db.models.find_one({"model_name": uid})
    assert stored["meta"] == {"library": "torch", "description": "new"}


def test_list_models_without_id(rest_server, uid):
    create_model(rest_server, uid, "1.0", {"library": "keras", "description": "d"})
    create_model(rest_server, uid, "2.0")
    for path in ("/model", "/model/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        listing = response.json()
        assert all("_id" not in doc for doc in listing)
        assert mine(listing, "model_name", uid) == [
            {
                "model_name": uid,
                "model_version": "1.0",
                "meta": {"library": "keras", "description": "d"},
                "model_id": None,
            },
            {"model_name": uid, "model_version": "2.0", "meta": None, "model_id": None},
        ]


def test_list_trained_models_only(rest_server, uid):
    create_model(rest_server, uid, "trained")
    create_model(rest_server, uid, "untrained")
    result = {"model_name": uid, "model_version": "trained", "training_id": "run-1"}
    assert_created(requests.post(rest_server("/training-results"), json=result))

    trained = requests.get(rest_server("/model"), params={"trained": "true"})
    assert trained.status_code == 200
    assert all("_id" not in doc for doc in trained.json())
    assert [m["model_version"] for m in mine(trained.json(), "model_name", uid)] == ["trained"]
    everything = requests.get(rest_server("/model")).json()
    versions = [m["model_version"] for m in mine(everything, "model_name", uid)]
    assert versions == ["trained", "untrained"]


def test_get_model_meta(rest_server, uid):
    create_model(rest_server, uid, meta={"library": "sklearn", "description": "forest"})
    response = requests.get(
        rest_server("/model/meta"), params={"model_name": uid, "model_version": "1.0"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "model_name": uid,
        "model_version": "1.0",
        "meta": {"library": "sklearn", "description": "forest"},
        "model_id": None,
    }


def test_get_meta_of_an_unknown_model_is_404(rest_server, uid):
    response = requests.get(
        rest_server("/model/meta"), params={"model_name": uid, "model_version": "1.0"}
    )
    assert_detail(response, 404)


def test_get_meta_without_the_version_is_422(rest_server, uid):
    response = requests.get(rest_server("/model/meta"), params={"model_name": uid})
    errors = assert_invalid(response)
    assert errors[0]["loc"] == ["query", "model_version"]


def test_delete_model_removes_metadata_and_file(rest_server, uid):
    create_model(rest_server, uid)
    create_model(rest_server, uid, "2.0")
    put_file(rest_server(f"/model/{uid}/1.0"), os.urandom(300_000)).raise_for_status()
    file_id = ObjectId(rest_server.db.models.find_one({"model_name": uid})["model_id"])

    assert_no_content(requests.delete(rest_server(f"/model/{uid}/1.0")))
    remaining = [m["model_version"] for m in rest_server.db.models.find({"model_name": uid})]
    assert remaining == ["2.0"]
    assert rest_server.grid["fs.files"].count_documents({"_id": file_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": file_id}) == 0
    assert_detail(requests.get(rest_server(f"/model/{uid}/1.0")), 404)
