"""Training runs over REST on a served process (`/training-results/{name}/{version}/{id}/...`),
and the live subscriptions to rounds and alias moves over WebSocket."""

import hashlib
import json

import requests
from live_client import subscriptions, wait_for_subscriptions
from rest_fixtures import assert_detail, assert_invalid

pytest_plugins = ["rest_fixtures"]

ROUND_RECORDED = """subscription($name: String) {
  roundRecorded(modelName: $name) { trainingId number metrics weightsSha256 participantCount } }"""
ALIAS_MOVED = """subscription($name: String) {
  aliasMoved(modelName: $name) { alias fromVersion toVersion movedBy } }"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def post_round(server, path: str, round: object, weights: bytes | None, state: bytes | None = None):
    form: list[tuple[str, tuple]] = [("round", (None, json.dumps(round), "application/json"))]
    if weights is not None:
        form.append(("weights", ("weights.bin", weights, "application/octet-stream")))
    if state is not None:
        form.append(("aggregator_state", ("state.bin", state, "application/octet-stream")))
    return requests.post(server(path + "/rounds"), files=form, timeout=30)


def started(server, uid: str) -> str:
    created = requests.post(
        server("/model"), json={"model_name": uid, "model_version": "1"}, timeout=10
    )
    assert created.status_code == 201, created.text
    path = f"/training-results/{uid}/1/run"
    run = requests.post(server(path + "/run"), json={"objective": {"metric": "acc"}}, timeout=10)
    assert run.status_code == 201, run.text
    assert run.json()["objective"] == {"metric": "acc", "direction": "max"}
    return path


def test_rounds_are_recorded_listed_downloaded_and_resumed_from(rest_server, uid):
    path = started(rest_server, uid)
    clients = [{"client_id": "c1", "num_examples": 5, "update_sha256": sha256(b"u1")}]
    with subscriptions(rest_server.url) as ws:
        ws.subscribe("r", ROUND_RECORDED, {"name": uid})
        wait_for_subscriptions(rest_server.url, 1)
        one = post_round(rest_server, path, {"number": 1, "metrics": {"acc": 0.5}}, b"w1", b"s1")
        assert one.status_code == 201, one.text
        body = {"number": 2, "metrics": {"acc": 0.6}, "participants": clients}
        two = post_round(rest_server, path, body, b"w2")
        assert two.status_code == 201, two.text
        events = [ws.receive(10)["payload"]["data"]["roundRecorded"] for _ in range(2)]
    assert [(e["number"], e["participantCount"]) for e in events] == [(1, 0), (2, 1)]
    assert events[1]["weightsSha256"] == sha256(b"w2")
    assert one.json()["aggregator_state_sha256"] == sha256(b"s1")
    assert two.json()["aggregator_state_url"] is None
    again = post_round(rest_server, path, body, b"w2")
    assert again.status_code == 201 and again.json() == two.json()
    assert_detail(post_round(rest_server, path, body, b"other"), 409)

    listed = requests.get(rest_server(path + "/rounds"), timeout=10).json()
    assert [r["number"] for r in listed] == [1, 2]
    assert listed[1]["participants"][0]["client_id"] == "c1"
    weights = requests.get(rest_server(path + "/rounds/1/weights"), timeout=10)
    assert weights.status_code == 200 and weights.content == b"w1"
    checkpoint = requests.get(rest_server(path + "/checkpoint"), timeout=10).json()
    assert checkpoint["number"] == 2
    assert requests.get(rest_server(checkpoint["weights_url"]), timeout=10).content == b"w2"
    assert requests.get(rest_server(path + "/rounds/7/weights"), timeout=10).status_code == 404


def test_bad_rounds_get_clear_4xx_and_leave_nothing(rest_server, uid):
    path = started(rest_server, uid)
    before = rest_server.snapshot()
    assert_invalid(post_round(rest_server, path, {"number": 1}, None))  # no weights
    assert_invalid(post_round(rest_server, path, [1], b"w"))  # not an object
    assert_invalid(post_round(rest_server, path, {"number": "one"}, b"w"))
    assert_invalid(post_round(rest_server, path, {"number": 1, "participants": [{}]}, b"w"))
    no_field = requests.post(
        rest_server(path + "/rounds"), files={"weights": ("w", b"w")}, timeout=10
    )
    assert_invalid(no_field)
    form = {"round": (None, "{"), "weights": ("w", b"w")}
    not_json = requests.post(rest_server(path + "/rounds"), files=form, timeout=10)
    assert_invalid(not_json)
    other = requests.post(
        rest_server(path + "/rounds"),
        files=[("round", (None, '{"number": 1}')), ("weights", ("w", b"w")), ("x", ("x", b"x"))],
        timeout=10,
    )
    assert_invalid(other)
    assert_invalid(post_round(rest_server, path, {"number": 1, "weights_sha256": 5}, b"w"))
    assert_invalid(post_round(rest_server, path, {"number": 1, "weights_sha256": "0" * 64}, b"w"))
    huge = "9" * 40
    assert_invalid(requests.get(rest_server(f"{path}/rounds/{huge}/weights"), timeout=10))
    assert_invalid(requests.get(rest_server(f"{path}/rounds?offset={huge}"), timeout=10))
    assert_invalid(requests.get(rest_server(f"{path}/rounds?limit=5000"), timeout=10))
    unknown = f"/training-results/{uid}/1/never-started"
    assert_detail(post_round(rest_server, unknown, {"number": 1}, b"w"), 404)
    assert requests.get(rest_server(unknown + "/checkpoint"), timeout=10).status_code == 404
    assert rest_server.snapshot() == before
    no_model = f"/training-results/{uid}-none/1/run/run"
    assert_detail(requests.post(rest_server(no_model), json={}, timeout=10), 404)


def test_alias_moves_reach_a_subscriber(rest_server, uid):
    for version in ("1", "2"):
        body = {"model_name": uid, "model_version": version}
        assert requests.post(rest_server("/model"), json=body, timeout=10).status_code == 201
    move = (
        'mutation($n: String!, $v: String!) { moveAlias(modelName: $n, alias: "candidate", '
        "modelVersion: $v) { modelVersion } }"
    )
    with subscriptions(rest_server.url) as ws:
        ws.subscribe("a", ALIAS_MOVED, {"name": uid})
        wait_for_subscriptions(rest_server.url, 1)
        for version in ("1", "2"):
            operation = {"query": move, "variables": {"n": uid, "v": version}}
            response = requests.post(rest_server("/graphql"), json=operation, timeout=10)
            assert "errors" not in response.json(), response.text
        events = [ws.receive(10)["payload"]["data"]["aliasMoved"] for _ in range(2)]
    assert [(e["fromVersion"], e["toVersion"]) for e in events] == [(None, "1"), ("1", "2")]
    assert {e["movedBy"] for e in events} == {"anonymous"}


def test_the_original_weights_route_still_answers_paths_that_look_like_runs(rest_server, uid):
    """`/training-results/weights/{name}/{version}/{training_id}` with a training id of
    `rounds` or `checkpoint` is the original's weights download, not a run's route."""
    for training_id in ("rounds", "checkpoint"):
        body = {"model_name": uid, "model_version": "1", "training_id": training_id}
        created = requests.post(rest_server("/training-results"), json=body, timeout=10)
        assert created.status_code == 201, created.text
        put = requests.put(
            rest_server(f"/training-results/{uid}/1/{training_id}/cfg"),
            files={"file": ("w", b"final weights")},
            timeout=10,
        )
        assert put.status_code == 204, put.text
        got = requests.get(rest_server(f"/training-results/weights/{uid}/1/{training_id}"))
        assert got.status_code == 200 and got.text == "ZmluYWwgd2VpZ2h0cw=="
