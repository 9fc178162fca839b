"""REST contract of the inference variant's `/service` and `/inferencer` routes, against a
real server process: the original's paths, status codes, bodies and stored layout."""

import hashlib
import os

import pytest
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

NEEDS = {
    "storage": 0.5,
    "RAM": 2.0,
    "GPU": True,
    "preinstalled_libraries": {"grpcio": "1.60"},
    "available_models": {},
}


def service(key, **changes):
    """A service as the inference deployment posts it (original field names)."""
    return {
        "id": key,
        "description": "bidirectional gRPC streaming of TensorProto maps",
        "needs": NEEDS,
        **changes,
    }


def inferencer(key, **changes):
    return {
        "id": key,
        "description": "loads and runs an RCNN model in Torch",
        "library": "torch",
        "needs": NEEDS,
        "use_cuda": True,
        **changes,
    }


KINDS = [
    pytest.param("service", "services", service, id="service"),
    pytest.param("inferencer", "inferencers", inferencer, id="inferencer"),
]


def key_of(word, uid):
    return f"inference_application.code.{word}s.{uid}"


def snapshot(server, collection):
    """Every stored document the routes could touch, to show that a request wrote nothing."""
    return server.snapshot() | {collection: list(server.db[collection].find({}).sort("_id", 1))}


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_create_stores_the_original_layout(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    assert_created(requests.post(rest_server(f"/{word}/"), json=body(f"{key}.slash")))
    stored = rest_server.db[collection].find_one({"id": key}, {"_id": 0})
    assert stored.pop("created_at") is not None
    assert stored == {**body(key), "storage_id": None}
    assert rest_server.db[collection].count_documents({"id": f"{key}.slash"}) == 1


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_create_existing_is_400_and_keeps_the_first(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    response = requests.post(rest_server(f"/{word}"), json=body(key, description="other"))
    assert key in assert_detail(response, 400)
    stored = list(rest_server.db[collection].find({"id": key}))
    assert [doc["description"] for doc in stored] == [body(key)["description"]]


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_invalid_bodies_are_422_and_store_nothing(rest_server, uid, word, collection, body):
    before = snapshot(rest_server, collection)
    cases = [
        ({"description": "no id"}, ["body", "id"]),
        (body("a/b"), ["body", "id"]),
        (body(key_of(word, uid), needs={"GPU": "maybe"}), ["body", "needs", "GPU"]),
        (body(key_of(word, uid), needs={"RAM": "two"}), ["body", "needs", "RAM"]),
    ]
    if word == "inferencer":
        cases.append((body(key_of(word, uid), use_cuda="often"), ["body", "use_cuda"]))
    for sent, loc in cases:
        errors = assert_invalid(requests.post(rest_server(f"/{word}"), json=sent))
        assert loc in [e["loc"] for e in errors], errors
    assert snapshot(rest_server, collection) == before


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_upload_and_download_the_object(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    data = os.urandom(600_000)
    assert_no_content(put_file(rest_server(f"/{word}/{key}"), data, f"{word}.pkl"))

    stored = rest_server.db[collection].find_one({"id": key})
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(stored["storage_id"])})
    assert record["filename"] == f"{word}/{key}"
    assert record["length"] == len(data)

    response = requests.get(rest_server(f"/{word}/{key}"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.content == data


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_a_new_object_replaces_the_old_one(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    put_file(rest_server(f"/{word}/{key}"), b"first").raise_for_status()
    first = ObjectId(rest_server.db[collection].find_one({"id": key})["storage_id"])
    put_file(rest_server(f"/{word}/{key}"), b"second").raise_for_status()
    assert requests.get(rest_server(f"/{word}/{key}")).content == b"second"
    # The first object is kept as a revision (test_revisions.py).
    assert rest_server.db["file_revisions"].find_one({"file_id": str(first)}) is not None


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_upload_for_an_unknown_id_is_404(rest_server, uid, word, collection, body):
    before = snapshot(rest_server, collection)
    assert_detail(put_file(rest_server(f"/{word}/{key_of(word, uid)}"), b"pickle"), 404)
    assert snapshot(rest_server, collection) == before


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_update_meta_replaces_metadata_and_keeps_the_object(
    rest_server, uid, word, collection, body
):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    put_file(rest_server(f"/{word}/{key}"), b"object").raise_for_status()
    storage_id = rest_server.db[collection].find_one({"id": key})["storage_id"]

    new = body(key, description="v2", needs={"storage": 1.0, "RAM": 4.0, "GPU": False})
    if word == "inferencer":
        new.update(library="tensorflow", use_cuda=False)
    assert_no_content(requests.put(rest_server(f"/{word}/meta/{key}"), json=new))

    stored = rest_server.db[collection].find_one({"id": key}, {"_id": 0, "created_at": 0})
    needs = {**new["needs"], "preinstalled_libraries": None, "available_models": None}
    assert stored == {**new, "needs": needs, "storage_id": storage_id}
    assert requests.get(rest_server(f"/{word}/{key}")).content == b"object"


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_update_meta_of_an_unknown_id_is_404(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    before = snapshot(rest_server, collection)
    assert_detail(requests.put(rest_server(f"/{word}/meta/{key}"), json=body(key)), 404)
    assert snapshot(rest_server, collection) == before


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_list_without_id_and_storage_id(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    put_file(rest_server(f"/{word}/{key}"), b"object").raise_for_status()
    for path in (f"/{word}", f"/{word}/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        listed = response.json()
        assert all("_id" not in doc and "storage_id" not in doc for doc in listed)
        assert mine(listed, "id", key) == [body(key)]


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_download_without_object_or_of_an_unknown_id_is_404(
    rest_server, uid, word, collection, body
):
    key = key_of(word, uid)
    assert_detail(requests.get(rest_server(f"/{word}/{key}")), 404)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    assert_detail(requests.get(rest_server(f"/{word}/{key}")), 404)


@pytest.mark.parametrize(("word", "collection", "body"), KINDS)
def test_delete_removes_metadata_and_object(rest_server, uid, word, collection, body):
    key = key_of(word, uid)
    assert_created(requests.post(rest_server(f"/{word}"), json=body(key)))
    put_file(rest_server(f"/{word}/{key}"), os.urandom(300_000)).raise_for_status()
    file_id = ObjectId(rest_server.db[collection].find_one({"id": key})["storage_id"])

    assert_no_content(requests.delete(rest_server(f"/{word}/{key}")))
    assert rest_server.db[collection].count_documents({"id": key}) == 0
    assert rest_server.grid["fs.files"].count_documents({"_id": file_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": file_id}) == 0

    before = snapshot(rest_server, collection)
    assert_detail(requests.delete(rest_server(f"/{word}/{key}")), 404)
    assert snapshot(rest_server, collection) == before


def test_documents_the_original_wrote_are_served(rest_server, uid):
    """A service and an inferencer as the original stored them (no `created_at`, no hash)."""
    key = key_of("service", uid)
    rest_server.db.services.insert_one({**service(key), "storage_id": None})
    rest_server.db.inferencers.insert_one(
        {"id": key, "description": None, "library": None, "needs": NEEDS, "use_cuda": None}
    )
    assert mine(requests.get(rest_server("/service")).json(), "id", key) == [service(key)]
    listed = mine(requests.get(rest_server("/inferencer")).json(), "id", key)
    assert listed == [inferencer(key, description=None, library=None, use_cuda=None)]


def test_one_server_serves_the_fl_and_the_inference_deployment(rest_server, uid):
    """An FL model route and an inference route, on the same server and databases."""
    model = {"model_name": uid, "model_version": "1", "meta": {"library": "keras"}}
    assert_created(requests.post(rest_server("/model"), json=model))
    assert_no_content(put_file(rest_server(f"/model/{uid}/1"), b"model zip"))
    key = key_of("inferencer", uid)
    assert_created(requests.post(rest_server("/inferencer"), json=inferencer(key)))
    assert_no_content(put_file(rest_server(f"/inferencer/{key}"), b"inferencer pickle"))

    assert requests.get(rest_server(f"/model/{uid}/1")).content == b"model zip"
    assert requests.get(rest_server(f"/inferencer/{key}")).content == b"inferencer pickle"
    assert rest_server.db.models.count_documents({"model_name": uid}) == 1
    assert rest_server.db.inferencers.count_documents({"id": key}) == 1
