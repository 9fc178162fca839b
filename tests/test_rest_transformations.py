"""REST contract of the `/transformation` routes, against a real server process: what
only this collection does (what every collection does is in test_rest_collections.py)."""

import pytest
import requests
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
    [("storage", "ten"), ("RAM", "nan"), ("storage", [1]), ("RAM", {}), ("GPU", 2), ("GPU", "2")],
)
def test_needs_refuse_what_the_original_refused_and_nan(rest_server, uid, field, value):
    """Numbers and a boolean as pydantic 1 read them (tests/test_compat_lenient.py), no more;
    NaN, which pydantic 1 took, cannot be compared or ranked."""
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


def test_list_transformations_without_id_and_storage_id(rest_server, uid):
    key = key_of(uid)
    create(rest_server, key)
    put_file(rest_server(f"/transformation/{key}"), b"object").raise_for_status()
    for path in ("/transformation", "/transformation/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        assert all("_id" not in doc and "storage_id" not in doc for doc in response.json())
        assert mine(response.json(), "id", key) == [transformation(key)]
