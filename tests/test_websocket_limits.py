"""WebSockets get what HTTP requests get: revoked tokens stop working (across server processes),
a share per caller, the size and JSON limits on every message, and no traceback for bad ones."""

import contextlib
import json
import time

import pytest
import requests
from live_client import PROTOCOL, subscriptions
from pymongo import MongoClient
from rest_fixtures import running_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

pytest_plugins = ["rest_fixtures"]

ADMIN = "an-admin-secret-of-some-length"
EVENTS = "subscription { repositoryEvents { entity kind } }"
DELETE = 'mutation { deleteModel(modelName: "%s", modelVersion: "1") }'
CREATE = 'mutation { createModel(input: {modelName: "%s", modelVersion: "1"}) { modelName } }'


@pytest.fixture(scope="module")
def two_servers(sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory):
    """Two `flrepo serve` on one pair of databases, tokens needed, a WebSocket share of 3."""
    logs = tmp_path_factory.mktemp("ws")
    env = {
        "FLREPO_ANONYMOUS_SCOPES": "read",
        "FLREPO_ADMIN_TOKEN": ADMIN,
        "FLREPO_WEBSOCKETS_PER_CALLER": "3",
        "FLREPO_GRAPHQL_MAX_BYTES": "20000",
    }
    with running_server(sync_mongo, mongodb_url, logs, env) as first:
        same = {**env, "FLREPO_DB_NAME": first.db.name, "FLREPO_GRID_DB_NAME": first.grid.name}
        with running_server(sync_mongo, mongodb_url, logs, env=same) as second:
            yield first, second


def graphql(url: str, query: str, token: str = ADMIN) -> dict:
    response = requests.post(
        url + "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def new_token(url: str, name: str, scopes: str = '["read", "write", "delete"]') -> str:
    made = graphql(
        url, f'mutation {{ createToken(name: "{name}", scopes: {scopes}) {{ secret }} }}'
    )
    return made["data"]["createToken"]["secret"]


def closed_with(ws, timeout: float) -> tuple[int, float]:
    """Wait until the server closes the socket: its close code, and how long it took."""
    start = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.receive(timeout)
    return closed.value.rcvd.code, time.monotonic() - start


def no_tracebacks(*servers) -> None:
    for server in servers:
        text = server.log.read_text()
        assert "Traceback" not in text and "RecursionError" not in text, text[-3000:]


def test_a_token_revoked_on_another_server_closes_its_sockets(two_servers, uid):
    first, second = two_servers
    secret = new_token(first.url, uid)
    with (
        subscriptions(first.url, token=secret) as listening,
        subscriptions(first.url, token=secret) as working,
    ):
        listening.subscribe("1", EVENTS)
        working.subscribe("m", CREATE % uid)
        assert working.receive(10)["payload"]["data"] == {"createModel": {"modelName": uid}}
        assert working.receive(10)["type"] == "complete"
        graphql(second.url, f'mutation {{ revokeToken(name: "{uid}") }}')  # the other server
        assert (
            requests.get(
                second.url + "/model", headers={"Authorization": f"Bearer {secret}"}, timeout=10
            ).status_code
            == 401
        )
        code, took = closed_with(listening, 12)
        assert code == 4403 and took < 10, (code, took)
        # An operation sent after revocation never runs, on a socket that is still open.
        try:
            working.subscribe("d", DELETE % uid)
            code, _ = closed_with(working, 12)
            assert code == 4403
        except ConnectionClosed as exc:
            assert exc.rcvd.code == 4403
    assert first.db["models"].count_documents({"model_name": uid}) == 1
    with (
        pytest.raises((InvalidStatus, ConnectionClosed, AssertionError)),
        subscriptions(first.url, token=secret),
    ):
        pass  # a revoked token is refused at connection_init (4403)
    no_tracebacks(first, second)


def test_one_caller_gets_its_share_of_websockets_and_no_more(two_servers, uid):
    first, _ = two_servers
    secret = new_token(first.url, uid, '["read"]')
    for token in (secret, None):  # a token's sockets, then the anonymous ones of one address
        with contextlib.ExitStack() as stack:
            for _ in range(3):
                stack.enter_context(subscriptions(first.url, token=token))
            with pytest.raises(InvalidStatus) as refused, subscriptions(first.url, token=token):
                pass
            assert refused.value.response.status_code == 429
            assert int(refused.value.response.headers["retry-after"]) > 0
            with subscriptions(first.url, token=ADMIN) as other:  # another caller gets in
                other.subscribe("1", EVENTS)
        with subscriptions(first.url, token=token):  # closed: room again
            pass
    no_tracebacks(first)


@contextlib.contextmanager
def raw_socket(url: str):
    """A WebSocket to `url`'s /graphql, acknowledged, sending and receiving text as it is."""
    with connect(
        url.replace("http://", "ws://") + "/graphql", subprotocols=[PROTOCOL], open_timeout=10
    ) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(10))["type"] == "connection_ack"
        yield ws


def subscribe(id: str, query: str, **payload: object) -> str:
    return json.dumps({"type": "subscribe", "id": id, "payload": {"query": query, **payload}})


BAD_MESSAGES = {
    "deep JSON": "[" * 100_000 + "]" * 100_000,
    "deep JSON object": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "not JSON": "{nope",
    "NaN": '{"type": "ping", "payload": NaN}',
    "a list": "[1, 2]",
    "a string": '"subscribe"',
    "id a list": subscribe("1", "{ a }").replace('"1"', "[]"),
    "payload a list": '{"type": "subscribe", "id": "1", "payload": []}',
    "query a number": '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
    "variables a list": subscribe("1", "{ a }", variables=[]),
    "type a number": '{"type": 3}',
}


@pytest.mark.parametrize("message", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_malformed_messages_close_with_4400_or_1009_and_log_no_traceback(two_servers, message):
    first, _ = two_servers
    with raw_socket(first.url) as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(10)
    assert closed.value.rcvd.code in (4400, 1009), closed.value.rcvd
    no_tracebacks(first)


def test_messages_get_the_http_size_limit(two_servers):
    first, _ = two_servers
    padding = "x" * 30_000  # over FLREPO_GRAPHQL_MAX_BYTES of these servers (20,000)
    for query in (f"{{ models {{ modelName }} }} # {padding}", "{ models { modelName } }"):
        with raw_socket(first.url) as ws:
            payload = {"query": query, "variables": {"pad": padding}}
            ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": payload}))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(10)
            assert closed.value.rcvd.code == 1009, closed.value.rcvd
    with raw_socket(first.url) as ws:  # within the limit: answered
        ws.send(
            json.dumps(
                {"type": "subscribe", "id": "1", "payload": {"query": "{ models { modelName } }"}}
            )
        )
        assert json.loads(ws.recv(10))["type"] == "next"
    no_tracebacks(first)


def test_messages_get_the_query_limits(two_servers):
    first, _ = two_servers
    deep = "modelName"
    for _ in range(6):
        deep = f"trainingResults {{ model {{ {deep} }} }}"
    deep = f"{{ models {{ {deep} }} }}"
    aliases = "{ " + " ".join(f"a{i}: models {{ modelName }}" for i in range(40)) + " }"
    cases = {
        deep: "QUERY_TOO_COMPLEX",
        aliases: "QUERY_TOO_COMPLEX",
        "{ models(limit: " + "9" * 5000 + ") { modelName } }": "BAD_USER_INPUT",
    }
    with raw_socket(first.url) as ws:
        for number, (query, code) in enumerate(cases.items()):
            ws.send(
                json.dumps({"type": "subscribe", "id": str(number), "payload": {"query": query}})
            )
            answer = json.loads(ws.recv(10))
            errors = answer["payload"] if answer["type"] == "error" else answer["payload"]["errors"]
            assert errors[0]["extensions"]["code"] == code, answer
    no_tracebacks(first)


def test_sockets_close_at_their_lifetime(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_WS_MAX_LIFETIME_S": "2"}
    with (
        running_server(sync_mongo, mongodb_url, tmp_path, env) as server,
        subscriptions(server.url) as ws,
    ):
        ws.subscribe("1", EVENTS)
        code, took = closed_with(ws, 10)
    assert code == 1000 and 1 < took < 6, (code, took)
