"""REST contract of the `/strategy` routes, against a real server process."""

import hashlib
import os
import pickle
import shutil

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


def create_strategy(server, name, path="/strategy", **fields):
    assert_created(requests.post(server(path), json={"strategy_name": name, **fields}))


def test_create_strategy_stores_the_original_layout(rest_server, uid):
    create_strategy(rest_server, uid, strategy_description="FedAvg", meta={"rounds": "5"})
    stored = rest_server.db.strategies.find_one({"strategy_name": uid}, {"_id": 0, "created_at": 0})
    assert stored == {
        "strategy_name": uid,
        "strategy_description": "FedAvg",
        "meta": {"rounds": "5"},
        "strategy_id": None,
    }


def test_create_strategy_with_a_trailing_slash(rest_server, uid):
    create_strategy(rest_server, uid, path="/strategy/")
    assert rest_server.db.strategies.count_documents({"strategy_name": uid}) == 1


def test_create_existing_strategy_is_400(rest_server, uid):
    create_strategy(rest_server, uid, strategy_description="first")
    response = requests.post(
        rest_server("/strategy"), json={"strategy_name": uid, "strategy_description": "second"}
    )
    assert uid in assert_detail(response, 400)
    stored = list(rest_server.db.strategies.find({"strategy_name": uid}))
    assert [doc["strategy_description"] for doc in stored] == ["first"]


def test_create_strategy_without_name_is_422(rest_server):
    before = rest_server.snapshot()
    errors = assert_invalid(requests.post(rest_server("/strategy"), json={"meta": {}}))
    assert ["body", "strategy_name"] in [e["loc"] for e in errors]
    assert rest_server.snapshot() == before


def test_upload_and_download_strategy_object(rest_server, uid, tmp_path):
    create_strategy(rest_server, uid)
    data = pickle.dumps({"strategy": uid, "payload": os.urandom(1024 * 1024)})
    assert_no_content(put_file(rest_server(f"/strategy/{uid}"), data, "strategy.pkl"))

    stored = rest_server.db.strategies.find_one({"strategy_name": uid})
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(stored["strategy_id"])})
    assert record["filename"] == f"strategy/{uid}"

    target = tmp_path / "strategy.pkl"
    with requests.get(rest_server(f"/strategy/{uid}"), stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        with target.open("wb") as f:
            shutil.copyfileobj(response.raw, f)
    assert target.read_bytes() == data
    assert pickle.loads(target.read_bytes())["strategy"] == uid


def test_upload_for_an_unknown_strategy_is_404(rest_server, uid):
    before = rest_server.snapshot()
    assert_detail(put_file(rest_server(f"/strategy/{uid}"), b"pickle"), 404)
    assert rest_server.snapshot() == before


def test_update_strategy_meta(rest_server, uid):
    create_strategy(rest_server, uid, strategy_description="d", meta={"old": "1"})
    response = requests.put(rest_server(f"/strategy/meta/{uid}"), json={"meta": {"new": "2"}})
    assert_no_content(response)
    stored = rest_server.db.strategies.find_one({"strategy_name": uid}, {"_id": 0, "created_at": 0})
    assert stored["meta"] == {"new": "2"}
    assert stored["strategy_description"] == "d"


def test_update_meta_of_an_unknown_strategy_is_404(rest_server, uid):
    before = rest_server.snapshot()
    response = requests.put(rest_server(f"/strategy/meta/{uid}"), json={"meta": {"a": "b"}})
    assert_detail(response, 404)
    assert rest_server.snapshot() == before


def test_list_strategies_without_id(rest_server, uid):
    create_strategy(rest_server, uid, strategy_description="avg", meta={"k": "v"})
    for path in ("/strategy", "/strategy/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        assert all("_id" not in doc for doc in response.json())
        assert mine(response.json(), "strategy_name", uid) == [
            {
                "strategy_name": uid,
                "strategy_description": "avg",
                "meta": {"k": "v"},
                "strategy_id": None,
            }
        ]


def test_download_of_an_unknown_strategy_is_404(rest_server, uid):
    assert_detail(requests.get(rest_server(f"/strategy/{uid}")), 404)


def test_download_of_a_strategy_without_object_is_404(rest_server, uid):
    create_strategy(rest_server, uid)
    assert_detail(requests.get(rest_server(f"/strategy/{uid}")), 404)


def test_delete_strategy_removes_its_object(rest_server, uid):
    create_strategy(rest_server, uid)
    put_file(rest_server(f"/strategy/{uid}"), os.urandom(400_000)).raise_for_status()
    file_id = ObjectId(rest_server.db.strategies.find_one({"strategy_name": uid})["strategy_id"])

    assert_no_content(requests.delete(rest_server(f"/strategy/{uid}")))
    assert rest_server.db.strategies.count_documents({"strategy_name": uid}) == 0
    assert rest_server.grid["fs.files"].count_documents({"_id": file_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": file_id}) == 0


def test_delete_of_a_strategy_without_object(rest_server, uid):
    create_strategy(rest_server, uid)
    assert_no_content(requests.delete(rest_server(f"/strategy/{uid}")))
    assert rest_server.db.strategies.count_documents({"strategy_name": uid}) == 0


def test_delete_of_an_unknown_strategy_is_404(rest_server, uid):
    before = rest_server.snapshot()
    assert_detail(requests.delete(rest_server(f"/strategy/{uid}")), 404)
    assert rest_server.snapshot() == before
