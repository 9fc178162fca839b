"""Subscribers of the same subscription (query, variables, operation) share one execution:
one listener on the change feed, one encoding of each event, the same frame to each socket
but for its operation id."""

import json
import time
import uuid

import pytest
import requests
from live_client import metric_samples, subscriptions
from pymongo import MongoClient
from rest_fixtures import running_server

pytest_plugins = ["rest_fixtures"]

RESULT_ADDED = """subscription ($name: String) {
  trainingResultAdded(modelName: $name) { modelName trainingId results }
}"""


@pytest.fixture(scope="module")
def server(sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory):
    with running_server(sync_mongo, mongodb_url, tmp_path_factory.mktemp("shared")) as server:
        yield server


def feed_listeners(url: str) -> float:
    return metric_samples(url)[("flrepo_subscriptions_open", ())]


def settle(url: str, count: int) -> None:
    """Until the feed has exactly `count` listeners, for a moment."""
    deadline = time.monotonic() + 20
    while feed_listeners(url) != count:
        assert time.monotonic() < deadline, f"{feed_listeners(url)} listeners, not {count}"
        time.sleep(0.05)
    time.sleep(0.3)
    assert feed_listeners(url) == count


def post_result(url: str, name: str, training_id: str) -> None:
    body = {"model_name": name, "model_version": "1", "training_id": training_id,
            "configuration_id": None, "results": {"loss": "0.5", "naïve": [1.5, None]}}  # fmt: skip
    assert requests.post(url + "/training-results", json=body, timeout=10).status_code == 201


def test_subscribers_of_one_subscription_share_its_execution(server):
    name, other = uuid.uuid4().hex, uuid.uuid4().hex
    with (
        subscriptions(server.url) as a,
        subscriptions(server.url) as b,
        subscriptions(server.url) as c,
        subscriptions(server.url) as d,
    ):
        for ws, id in ((a, "a"), (b, "b"), (c, "same-id")):
            ws.subscribe(id, RESULT_ADDED, {"name": name})
        d.subscribe("d", RESULT_ADDED, {"name": other})
        settle(server.url, 2)  # one execution for a, b and c; one for d
        post_result(server.url, name, "run-1")
        frames = [ws.ws.recv(5) for ws in (a, b, c)]
        messages = [json.loads(frame) for frame in frames]
        assert [m["id"] for m in messages] == ["a", "b", "same-id"]
        assert messages[0]["payload"] == {
            "data": {
                "trainingResultAdded": {
                    "modelName": name,
                    "trainingId": "run-1",
                    "results": {"loss": "0.5", "naïve": [1.5, None]},
                }
            }
        }
        assert all(m["payload"] == messages[0]["payload"] for m in messages)
        assert all(
            frame == json.dumps(m, separators=(",", ":"))
            for frame, m in zip(frames, messages, strict=True)
        )
        a.send({"id": "a", "type": "complete"})
        b.close()
        settle(server.url, 2)  # c still listens
        post_result(server.url, name, "run-2")
        assert c.receive(5)["payload"]["data"]["trainingResultAdded"]["trainingId"] == "run-2"
        post_result(server.url, other, "run-3")
        assert d.receive(5)["payload"]["data"]["trainingResultAdded"]["trainingId"] == "run-3"
    settle(server.url, 0)


def test_an_invalid_subscription_is_refused_to_each_subscriber(server):
    with subscriptions(server.url) as a, subscriptions(server.url) as b:
        for ws in (a, b):
            ws.subscribe("x", "subscription { trainingResultAdded { nope } }")
            message = ws.receive(5)
            assert (message["id"], message["type"]) == ("x", "error")
            assert "nope" in message["payload"][0]["message"]
    settle(server.url, 0)
