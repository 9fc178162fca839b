"""Hostile input on both faces: a 4xx (REST) or a coded GraphQL error, and nothing stored.

Each body is written out by hand: the values below are ones a JSON library refuses to send.
"""

import http.client
import json
import re

import httpx
import pytest
import requests
from helpers import upload_request
from rest_fixtures import assert_client_error

pytest_plugins = ["rest_fixtures"]

BIG = str(2**64)  # an integer beyond 64 bits
DEEP = '{"a":' * 1000 + "1" + "}" * 1000
HALF_DEEP = '{"a":' * 150 + "1" + "}" * 150  # parses, but deeper than the stated 100
PYTHON_WORDS = re.compile(r"NoneType|Traceback|object is not|Error\(|\bdict\b|\bint\(")

# (REST method, path, body template with {v} for the hostile JSON value)
REST_TARGETS = {
    "strategy meta": ("POST", "/strategy", '{{"strategy_name": "h1", "meta": {{"x": {v}}}}}'),
    "results": (
        "POST",
        "/training-results",
        '{{"model_name": "h", "model_version": "1", "training_id": "h2", "results": {{"x": {v}}}}}',
    ),
    "default values": (
        "POST",
        "/transformation",
        '{{"id": "app.h3", "default_values": {{"x": {v}}}}}',
    ),
    "description": ("POST", "/strategy", '{{"strategy_name": "h4", "strategy_description": {v}}}'),
}
HOSTILE_VALUES = {
    "int beyond 64 bits": BIG,
    "negative int beyond 64 bits": "-" + BIG,
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "huge float": "1e400",
    "lone surrogate": '"\\ud800"',
    "lone surrogate in a list": '["ok", "\\udfff"]',
    "nested 1000 deep": DEEP,
    "nested 150 deep": HALF_DEEP,
}


def speaks_of_input(text: str) -> None:
    assert not PYTHON_WORDS.search(text), text


@pytest.mark.parametrize("target", REST_TARGETS)
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_rest_refuses_hostile_values(rest_server, target, value):
    if target == "description" and value.startswith("nested"):
        pytest.skip("descriptions are strings; validation refuses objects there anyway")
    method, path, template = REST_TARGETS[target]
    before = rest_server.snapshot()
    response = requests.request(
        method,
        rest_server(path),
        data=template.format(v=HOSTILE_VALUES[value]).encode(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert_client_error(response)
    speaks_of_input(response.text)
    assert rest_server.snapshot() == before


GRAPHQL_TARGETS = {
    "strategy meta": 'mutation($v: JSON) { createStrategy(input: {strategyName: "g1", '
    "meta: {x: $v}}) { strategyName } }",
    "results": 'mutation($v: JSON) { createTrainingResult(input: {modelName: "g", '
    'modelVersion: "1", trainingId: "g2", results: $v}) { trainingId } }',
    "default values": 'mutation($v: JSON) { createTransformation(input: {id: "app.g3",'
    " defaultValues: $v}) { id } }",
    "strategy meta update": 'mutation($v: JSON!) { updateStrategyMeta(strategyName: "target",'
    " meta: $v) { strategyName } }",
}


def graphql_raw(client: httpx.Client, query: str, variables_json: str) -> httpx.Response:
    body = '{"query": ' + json.dumps(query) + ', "variables": {"v": ' + variables_json + "}}"
    return client.post("/graphql", content=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def gql_client(rest_server):
    with httpx.Client(base_url=rest_server.url, timeout=30) as client:
        made = client.post(
            "/graphql",
            json={"query": 'mutation { createStrategy(input: {strategyName: "target"}) { meta } }'},
        )
        assert "errors" not in made.json(), made.text
        yield client


@pytest.mark.parametrize("target", GRAPHQL_TARGETS)
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_graphql_refuses_hostile_values(rest_server, gql_client, target, value):
    before = rest_server.snapshot()
    hostile = HOSTILE_VALUES[value]
    wrapped = hostile if target != "strategy meta update" else '{"x": ' + hostile + "}"
    response = graphql_raw(gql_client, GRAPHQL_TARGETS[target], wrapped)
    if response.status_code == 400:  # not JSON this server reads: NaN, Infinity, crashing depth
        assert value in ("NaN", "Infinity", "-Infinity", "nested 1000 deep"), response.text
        assert "JSON" in response.text
    else:
        assert response.status_code == 200, response.text
        errors = response.json()["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    speaks_of_input(response.text)
    assert rest_server.snapshot() == before


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "18446744073709551616"])
def test_graphql_literals_out_of_range_are_refused(rest_server, gql_client, literal):
    before = rest_server.snapshot()
    queries = [
        f'mutation {{ createStrategy(input: {{strategyName: "lit", meta: {{x: {literal}}}}}) '
        "{ strategyName } }"
    ]
    if "e" in literal:  # as a Float, 2**64 is a fine number
        queries.append(
            f'mutation {{ createTransformation(input: {{id: "app.lit", needs: '
            f"{{storage: {literal}}}}}) {{ id }} }}"
        )
    for query in queries:
        errors = gql_client.post("/graphql", json={"query": query}).json()["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
    assert rest_server.snapshot() == before


BAD_NAMES = {
    "dot": ".",
    "dot dot": "..",
    "zero-width space": "a\u200bb",
    "zero-width joiner": "a\u200db",
    "byte order mark": "\ufeffa",
    "right-to-left override": "evil\u202egpj.exe",
    "left-to-right isolate": "a\u2066b",
    "lone surrogate": "\ud800",
}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_hide_or_navigate_are_refused(rest_server, gql_client, name):
    before = rest_server.snapshot()
    escaped = json.dumps(BAD_NAMES[name])  # ASCII with \u escapes, surrogates included
    response = requests.post(
        rest_server("/model"),
        data=('{"model_name": ' + escaped + ', "model_version": "1"}').encode(),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    body = (
        '{"query": "mutation($n: String!) { createStrategy(input: {strategyName: $n}) '
        '{ strategyName } }", "variables": {"n": ' + escaped + "}}"
    )
    answer = gql_client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer.text
    assert rest_server.snapshot() == before


def test_a_document_over_16_mb_is_413(rest_server):
    before = rest_server.snapshot()
    # Over MongoDB's 16 MiB per document, under the 17 MiB a JSON body may have.
    body = '{"strategy_name": "huge", "meta": {"x": "' + "a" * (16 * 1024 * 1024 + 100_000) + '"}}'
    response = requests.post(
        rest_server("/strategy"),
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413, response.text[:300]
    assert "16 MB" in response.json()["detail"]
    assert rest_server.snapshot() == before


def test_a_long_filename_prefix_is_refused(gql_client):
    query = "query($p: String) { files(filenamePrefix: $p) { id } }"
    long = gql_client.post("/graphql", json={"query": query, "variables": {"p": "m" * 2000}})
    assert long.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    huge = gql_client.post("/graphql", json={"query": query, "variables": {"p": "m" * 200_000}})
    assert huge.status_code == 413
    assert huge.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_a_bad_multipart_map_is_described_without_python_words(gql_client):
    headers, body = upload_request(
        'mutation($file: Upload!) { uploadStrategyFile(strategyName: "target", file: $file)'
        " { strategyName } }",
        {},
        b"x",
    )
    text = b"".join(body).replace(b"variables.file", b"variables.nothing.deeper")
    response = gql_client.post("/graphql", content=text, headers=headers)
    assert response.status_code == 400
    assert "map" in response.text
    speaks_of_input(response.text)


async def test_an_unexpected_error_is_a_500_that_closes_the_connection(app, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("something the code did not expect")

    monkeypatch.setattr("flrepo.rest_compat.strategies.streams.stream_strategies", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/strategy")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert response.json() == {"detail": "Internal Server Error"}


def test_a_json_body_far_over_the_limit_is_refused_before_it_is_read(rest_server):
    host, port = rest_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/strategy")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(1024**3))
    connection.endheaders(b'{"strategy_name": "x", "meta": {"a": "')
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 413
    assert "exceeds the limit" in body["detail"]
