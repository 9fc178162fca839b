"""REST contract of the `/strategy` routes, against a real server process: what
only this collection does (what every collection does is in test_rest_collections.py)."""

import requests
from rest_fixtures import (
    assert_created,
    assert_detail,
    assert_invalid,
    assert_no_content,
    mine,
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


def test_update_strategy_meta(rest_server, uid):
    create_strategy(rest_server, uid, strategy_description="d", meta={"old": "1"})
    response = requests.put(rest_server(f"/strategy/meta/{uid}"), json={"meta": {"new": "2"}})
    assert_no_content(response)
    stored = rest_server.db.strategies.find_one({"strategy_name": uid}, {"_id": 0, "created_at": 0})
    assert stored["meta"] == {"new": "2"}
    assert stored["strategy_description"] == "d"


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
