"""REST contract of the `/transformation` routes, against a real server process."""

import hashlib
import os
import shutil

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


def transformation(key, **changes):
    """A transformation as the FL components post it (original field names)."""
    return {
        "id": key,
        "description": "one-hot encodes the categorical columns",
        "parameter_types": {"columns": "list", "drop_first": "bool"},
        "default_values": {"columns": ["colour"], "drop_first": False},
        "outputs": ["encoded"],
        "needs": {
            "storage": 10.5,
            "RAM": 2.0,
            "GPU": True,
            "preinstalled_libraries": {"pandas": "2.2"},
            "available_models": {},
        },
        **changes,
    }


def key_of(uid):
    return f"application.tests.{uid}"


def create(server, key, path="/transformation", **changes):
    assert_created(requests.post(server(path), json=transformation(key, **changes)))


def test_create_transformation_stores_the_original_layout(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    stored = rest_server.db.transformations.find_one({"id": key}, {"_id": 0, "created_at": 0})
    assert stored == {**transformation(key), "storage_id": None}


def test_create_transformation_with_a_trailing_slash(rest_server, uid):
    create(rest_server, key_of(uid), path="/transformation/")
    assert rest_server.db.transformations.count_documents({"id": key_of(uid)}) == 1


def test_create_existing_transformation_is_400(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    response = requests.post(
        rest_server("/transformation"), json=transformation(key, description="other")
    )
    assert key in assert_detail(response, 400)
    stored = list(rest_server.db.transformations.find({"id": key}))
    assert [doc["description"] for doc in stored] == [transformation(key)["description"]]


def test_create_transformation_with_wrong_types_is_422(rest_server, uid):
    before = rest_server.snapshot()
    body = transformation(key_of(uid), outputs="encoded", needs={"GPU": "maybe"})
    errors = assert_invalid(requests.post(rest_server("/transformation"), json=body))
    locs = [e["loc"] for e in errors]
    assert ["body", "outputs"] in locs
    assert ["body", "needs", "GPU"] in locs
    assert rest_server.snapshot() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("storage", False), ("RAM", True), ("storage", "10"), ("RAM", "2.5"), ("GPU", 1)],
)
def test_needs_take_numbers_and_a_boolean_as_documented_nothing_else(
    rest_server, uid, field, value
):
    """The OpenAPI document says number and boolean; a false storage is not 0 GB."""
    before = rest_server.snapshot()
    body = transformation(key_of(uid), needs={field: value})
    errors = assert_invalid(requests.post(rest_server("/transformation"), json=body))
    assert ["body", "needs", field] in [e["loc"] for e in errors]
    assert rest_server.snapshot() == before


def test_whole_numbers_are_numbers_for_needs(rest_server, uid):
    key = key_of(uid)
    body = transformation(key, needs={"storage": 1, "RAM": 2.5, "GPU": None})
    assert_created(requests.post(rest_server("/transformation"), json=body))
    stored = rest_server.db.transformations.find_one({"id": key})
    assert stored["needs"]["storage"] == 1.0
    assert stored["needs"]["GPU"] is False


def test_upload_and_download_transformation_object(rest_server, uid, tmp_path):
    key = key_of(uid)
    create(rest_server, key)
    data = os.urandom(2 * 1024 * 1024 + 99)
    assert_no_content(put_file(rest_server(f"/transformation/{key}"), data, "t.pkl"))

    stored = rest_server.db.transformations.find_one({"id": key})
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(stored["storage_id"])})
    assert record["filename"] == f"transformation/{key}"

    target = tmp_path / "t.pkl"
    with requests.get(rest_server(f"/transformation/{key}"), stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        with target.open("wb") as f:
            shutil.copyfileobj(response.raw, f)
    assert target.read_bytes() == data


def test_upload_for_an_unknown_transformation_is_404(rest_server, uid):
    before = rest_server.snapshot()
    assert_detail(put_file(rest_server(f"/transformation/{key_of(uid)}"), b"pickle"), 404)
    assert rest_server.snapshot() == before


def test_update_transformation_replaces_metadata_and_keeps_the_object(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    put_file(rest_server(f"/transformation/{key}"), b"object").raise_for_status()
    storage_id = rest_server.db.transformations.find_one({"id": key})["storage_id"]

    new = transformation(
        key,
        description="scales the numeric columns",
        parameter_types={"factor": "float"},
        default_values={"factor": 0.5},
        outputs=["scaled", "factor"],
        needs={"storage": 1.0, "RAM": 4.0, "GPU": False},
    )
    assert_no_content(requests.put(rest_server(f"/transformation/meta/{key}"), json=new))

    stored = rest_server.db.transformations.find_one({"id": key}, {"_id": 0, "created_at": 0})
    assert stored == {
        **new,
        "needs": {
            "storage": 1.0,
            "RAM": 4.0,
            "GPU": False,
            "preinstalled_libraries": None,
            "available_models": None,
        },
        "storage_id": storage_id,
    }
    assert requests.get(rest_server(f"/transformation/{key}")).content == b"object"


def test_update_of_an_unknown_transformation_is_404(rest_server, uid):
    key = key_of(uid)
    before = rest_server.snapshot()
    response = requests.put(rest_server(f"/transformation/meta/{key}"), json=transformation(key))
    assert_detail(response, 404)
    assert rest_server.snapshot() == before


def test_list_transformations_without_id_and_storage_id(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    put_file(rest_server(f"/transformation/{key}"), b"object").raise_for_status()
    for path in ("/transformation", "/transformation/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        assert all("_id" not in doc and "storage_id" not in doc for doc in response.json())
        assert mine(response.json(), "id", key) == [transformation(key)]


def test_download_of_an_unknown_transformation_is_404(rest_server, uid):
    assert_detail(requests.get(rest_server(f"/transformation/{key_of(uid)}")), 404)


def test_download_of_a_transformation_without_object_is_404(rest_server, uid):
    create(rest_server, key_of(uid))
    assert_detail(requests.get(rest_server(f"/transformation/{key_of(uid)}")), 404)


def test_delete_transformation_removes_its_object(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    put_file(rest_server(f"/transformation/{key}"), os.urandom(300_000)).raise_for_status()
    file_id = ObjectId(rest_server.db.transformations.find_one({"id": key})["storage_id"])

    assert_no_content(requests.delete(rest_server(f"/transformation/{key}")))
    assert rest_server.db.transformations.count_documents({"id": key}) == 0
    assert rest_server.grid["fs.files"].count_documents({"_id": file_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": file_id}) == 0


def test_delete_of_a_transformation_without_object(rest_server, uid):
    create(rest_server, key_of(uid))
    assert_no_content(requests.delete(rest_server(f"/transformation/{key_of(uid)}")))
    assert rest_server.db.transformations.count_documents({"id": key_of(uid)}) == 0


def test_delete_of_an_unknown_transformation_is_404(rest_server, uid):
    before = rest_server.snapshot()
    assert_detail(requests.delete(rest_server(f"/transformation/{key_of(uid)}")), 404)
    assert rest_server.snapshot() == before
