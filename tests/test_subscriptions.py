"""Subscriptions over WebSocket, fed by the change stream, across server processes."""

import subprocess
import time
import uuid

import pytest
import requests
from live_client import subscriptions, wait_for_subscriptions
from pymongo import MongoClient
from rest_fixtures import running_server
from websockets.exceptions import InvalidStatus

from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping

pytest_plugins = ["rest_fixtures"]

RESULT_ADDED = """subscription ($name: String, $version: String) {
  trainingResultAdded(modelName: $name, modelVersion: $version) {
    modelName modelVersion trainingId configurationId results
  }
}"""
MODEL_CHANGED = """subscription ($name: String) {
  modelChanged(modelName: $name) { kind modelName modelVersion model { meta { description } } }
}"""
EVENTS = """subscription ($entities: [Entity!]) {
  repositoryEvents(entities: $entities) {
    entity kind modelName trainingId strategyName transformationId at
  }
}"""


def post_result(base_url: str, name: str, training_id: str, accuracy: str = "0.5") -> None:
    body = {
        "model_name": name,
        "model_version": "1",
        "training_id": training_id,
        "configuration_id": "cfg",
        "results": {"accuracy": accuracy},
    }
    response = requests.post(base_url + "/training-results", json=body, timeout=10)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def two_servers(sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory):
    """Two `flrepo serve` processes on one pair of databases."""
    logs = tmp_path_factory.mktemp("live")
    with running_server(sync_mongo, mongodb_url, logs) as first:
        same = {"FLREPO_DB_NAME": first.db.name, "FLREPO_GRID_DB_NAME": first.grid.name}
        with running_server(sync_mongo, mongodb_url, logs, env=same) as second:
            yield first, second


def test_a_result_posted_to_one_server_reaches_a_subscriber_of_the_other(two_servers, uid):
    first, second = two_servers
    with subscriptions(first.url) as ws:
        ws.subscribe("1", RESULT_ADDED, {"name": uid})
        wait_for_subscriptions(first.url, 1)
        post_result(second.url, f"{uid}-other", "run-0")  # filtered out
        start = time.monotonic()
        post_result(second.url, uid, "run-1", "0.2429")
        message = ws.receive(timeout=2)
        assert time.monotonic() - start < 2
    assert message == {
        "id": "1",
        "type": "next",
        "payload": {
            "data": {
                "trainingResultAdded": {
                    "modelName": uid,
                    "modelVersion": "1",
                    "trainingId": "run-1",
                    "configurationId": "cfg",
                    "results": {"accuracy": "0.2429"},
                }
            }
        },
    }


def test_model_changes_say_what_happened(two_servers, uid):
    first, second = two_servers
    model = second.url + "/model"
    with subscriptions(first.url) as ws:
        ws.subscribe("m", MODEL_CHANGED, {"name": uid})
        wait_for_subscriptions(first.url, 1)
        body = {"model_name": uid, "model_version": "1", "meta": {"library": "keras"}}
        assert requests.post(model, json=body, timeout=10).status_code == 201
        meta = {"library": "keras", "description": "second"}
        url = second.url + f"/model/meta/{uid}/1"
        assert requests.put(url, json=meta, timeout=10).status_code < 300
        files = {"file": ("m.zip", b"zip bytes", "application/zip")}
        assert requests.put(model + f"/{uid}/1", files=files, timeout=10).status_code < 300
        assert requests.delete(model + f"/{uid}/1", timeout=10).status_code < 300
        changes = [ws.receive(timeout=20)["payload"]["data"]["modelChanged"] for _ in range(4)]
    assert [c["kind"] for c in changes] == ["CREATED", "META_UPDATED", "FILE_REPLACED", "DELETED"]
    assert all((c["modelName"], c["modelVersion"]) == (uid, "1") for c in changes)
    assert changes[1]["model"] == {"meta": {"description": "second"}}
    assert changes[3]["model"] is None


def test_a_delete_without_pre_images_has_no_key_fields(two_servers, uid):
    first, second = two_servers
    body = {"model_name": uid, "model_version": "1"}
    assert requests.post(second.url + "/model", json=body, timeout=10).status_code == 201
    off = {"collMod": "models", "changeStreamPreAndPostImages": {"enabled": False}}
    first.db.command(off)
    try:
        with subscriptions(first.url) as ws:
            ws.subscribe("m", MODEL_CHANGED)
            wait_for_subscriptions(first.url, 1)
            assert requests.delete(second.url + f"/model/{uid}/1", timeout=10).status_code < 300
            change = ws.receive(timeout=20)["payload"]["data"]["modelChanged"]
    finally:
        first.db.command({**off, "changeStreamPreAndPostImages": {"enabled": True}})
    assert change == {"kind": "DELETED", "modelName": None, "modelVersion": None, "model": None}


def test_repository_events_cover_strategies_and_transformations(two_servers, uid):
    first, second = two_servers
    with subscriptions(first.url) as ws:
        ws.subscribe("e", EVENTS, {"entities": ["STRATEGY", "TRANSFORMATION"]})
        wait_for_subscriptions(first.url, 1)
        post_result(second.url, uid, "ignored")
        body = {"strategy_name": uid, "strategy_description": "d", "meta": {}}
        assert requests.post(second.url + "/strategy", json=body, timeout=10).status_code == 201
        body = {"id": uid, "description": "t"}
        assert (
            requests.post(second.url + "/transformation", json=body, timeout=10).status_code == 201
        )
        events = [ws.receive(timeout=20)["payload"]["data"]["repositoryEvents"] for _ in range(2)]
    assert [(e["entity"], e["kind"]) for e in events] == [
        ("STRATEGY", "CREATED"),
        ("TRANSFORMATION", "CREATED"),
    ]
    assert events[0]["strategyName"] == uid
    assert events[1]["transformationId"] == uid
    assert all(e["at"] for e in events)


def test_a_bad_filter_is_an_error_with_a_code(two_servers):
    first, _ = two_servers
    with subscriptions(first.url) as ws:
        ws.subscribe("x", RESULT_ADDED, {"name": "a/b"})
        message = ws.receive(timeout=20)
    assert message["type"] in {"next", "error"}, message
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors


def test_subscriptions_per_connection_are_limited(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_MAX_SUBSCRIPTIONS": "2", "FLREPO_MAX_WEBSOCKETS": "1"}
    with (
        running_server(sync_mongo, mongodb_url, tmp_path, env) as server,
        subscriptions(server.url) as ws,
    ):
        for id in ("1", "2", "3"):
            ws.subscribe(id, RESULT_ADDED)
        message = ws.receive(timeout=20)
        assert message["type"] == "error" and message["id"] == "3", message
        assert "limit" in message["payload"][0]["message"].lower()
        with pytest.raises(InvalidStatus) as refused, subscriptions(server.url):
            pass
        assert refused.value.response.status_code == 403


def test_pages_of_other_origins_need_to_be_allowed(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_WS_ALLOWED_ORIGINS": "https://dash.example, https://other.example"}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        with subscriptions(server.url, origin="https://dash.example") as ws:
            ws.subscribe("1", RESULT_ADDED)
        with (
            pytest.raises(InvalidStatus) as refused,
            subscriptions(server.url, "https://x.example"),
        ):
            pass
        assert refused.value.response.status_code == 403
        with subscriptions(server.url, origin=server.url):  # the server's own pages
            pass


def test_subscribing_needs_the_read_scope(sync_mongo, mongodb_url, tmp_path):
    admin = "an-admin-secret-of-some-length"
    env = {"FLREPO_ANONYMOUS_SCOPES": "none", "FLREPO_ADMIN_TOKEN": admin}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        with subscriptions(server.url) as ws:
            ws.subscribe("1", RESULT_ADDED)
            message = ws.receive(timeout=20)
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", message
        with subscriptions(server.url, token=admin) as ws:
            ws.subscribe("1", RESULT_ADDED)
            wait_for_subscriptions(server.url, 1)
            post = requests.post(
                server.url + "/training-results",
                json={"model_name": "m", "model_version": "1", "training_id": "t"},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=10,
            )
            assert post.status_code == 201, post.text
            message = ws.receive(timeout=10)
        assert message["payload"]["data"]["trainingResultAdded"]["trainingId"] == "t", message


def start_database(path, port: int) -> subprocess.Popen:
    """SecantusDB keeping its data (and its change history) in `path`, on `port`."""
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--storage-path", str(path), "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
    )
    wait_for_ping(f"mongodb://127.0.0.1:{port}/?directConnection=true", 60, proc)
    return proc


def test_an_interrupted_change_stream_resumes_without_missing_a_change(tmp_path):
    port = free_port()
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    name = "r" + uuid.uuid4().hex[:8]
    database = start_database(tmp_path / "db", port)
    direct: MongoClient = MongoClient(url, serverSelectionTimeoutMS=20000)
    try:
        # Fails fast while the database is away, so that the server's own retries take over.
        impatient = url + "&serverSelectionTimeoutMS=300"
        with running_server(direct, impatient, tmp_path) as server, subscriptions(server.url) as ws:
            ws.subscribe("1", RESULT_ADDED, {"name": name})
            wait_for_subscriptions(server.url, 1)
            post_result(server.url, name, "before")
            first = ws.receive(timeout=20)["payload"]["data"]["trainingResultAdded"]
            assert first["trainingId"] == "before"
            # The database goes away under the server, and comes back; results are written
            # before the server's change stream could reopen.
            stop_process(database)
            database = start_database(tmp_path / "db", port)
            written = [f"while-away-{n}" for n in range(5)]
            for training_id in written:
                server.db.results.insert_one(
                    {"model_name": name, "model_version": "1", "training_id": training_id}
                )
            received = [
                ws.receive(timeout=30)["payload"]["data"]["trainingResultAdded"]["trainingId"]
                for _ in written
            ]
            assert received == written
            log = server.log.read_text()
            assert "change stream interrupted" in log
            assert "change stream open (resumed)" in log
    finally:
        direct.close()
        stop_process(database)
