"""Plain queries (graph/plain_queries.py) answer byte for byte as Strawberry's way does.

Each request is sent twice: once as the server takes it, once with the plain way switched
off. Answers, errors, codes and refusals must be the same; the plain way must really run for
the plain queries and never for anything else.
"""

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from callers import caller, make_token, serving
from flrepo.graph.view import GraphQLView
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries
from starlette.applications import Starlette

PLAIN = [
    "{ models { modelName modelVersion meta { library description } } }",
    '{ model(modelName: "m0", modelVersion: "1") { modelName trainingResults { trainingId } } }',
    '{ trainingResults(modelName: "m0", limit: 2, offset: 1) { trainingId results } }',
    '{ trainingResults(orderBy: {metric: "accuracy", direction: DESC}) { trainingId } }',
    "{ trainingResultsConnection(first: 2) { edges { cursor node { trainingId } } "
    "pageInfo { hasNextPage endCursor } } }",
    "{ a: models(limit: 1) { modelName } b: strategies { strategyName } }",
    '{ model(modelName: "nobody", modelVersion: "1") { modelName } }',
    '{ trainingResultsConnection(first: 1, after: "forged") { edges { cursor } } }',
    '{ model(modelName: "bad/\\u0000name", modelVersion: "1") { modelName } }',
    '{ trainingResults(orderBy: {metric: ""}) { trainingId } }',
    "{ files(limit: 5) { filename safety { verdict globals } } }",
]
MODELS = json.dumps({"query": "{ models { modelName } }"}).encode()
TWO = (
    "fragment M on Model { modelName } query Q { models { ...M } } "
    "query R { strategies { strategyName } }"
)
NOT_PLAIN = [
    TWO,  # two operations, none named (Strawberry runs the first)
    "{ models { nope } }",  # invalid
    "{ models(limit: 1 { modelName } }",  # syntax
    "{ models(limit: 123456789012345678901234) { modelName } }",  # a long number
    "{ " + " ".join(f"a{i}: models {{ modelName }}" for i in range(400)) + " }",  # aliases
    'mutation { deleteModel(modelName: "x", modelVersion: "1") }',
    "subscription { modelChanged { kind } }",
    "{ models(limit: 1000) { trainingResults(limit: 1000) { trainingId } } }",  # objects
]


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    for m in range(2):
        model = {"model_name": f"m{m}", "model_version": "1", "meta": {"library": "keras"}}
        assert (await client.post("/model", json=model)).status_code == 201
        for t in range(3):
            result = {"model_name": f"m{m}", "model_version": "1", "training_id": f"t{t}",
                      "configuration_id": "c", "results": {"accuracy": f"0.{t}{m}"}}  # fmt: skip
            assert (await client.post("/training-results", json=result)).status_code in (200, 201)
    return client


def views(app: Starlette) -> set[GraphQLView]:
    return {r.endpoint for r in app.routes if isinstance(getattr(r, "endpoint", None), GraphQLView)}


@pytest.fixture
def view(app: Starlette) -> Iterator[GraphQLView]:
    (found,) = views(app)
    yield found


class Runs:
    """Counts the plain way's executions."""

    def __init__(self, view: GraphQLView) -> None:
        assert view.plain is not None
        self.count = 0
        plain, execute = view.plain, view.plain.execute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return execute(*args, **kwargs)

        plain.execute = counted


async def both(
    client: httpx.AsyncClient, view: GraphQLView, content: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    headers = {"content-type": "application/json", **headers}
    first = await client.post("/graphql", content=content, headers=headers)
    plain, view.plain = view.plain, None
    try:
        second = await client.post("/graphql", content=content, headers=headers)
    finally:
        view.plain = plain
    return first, second


def same(first: httpx.Response, second: httpx.Response) -> None:
    assert first.status_code == second.status_code
    assert first.headers.get("content-type") == second.headers.get("content-type")
    assert first.content == second.content


@pytest.mark.parametrize(
    ("query", "plain"), [(q, True) for q in PLAIN] + [(q, False) for q in NOT_PLAIN]
)
async def test_plain_queries_answer_as_strawberry_does_and_others_go_its_way(
    seeded, view, query, plain
):
    runs = Runs(view)
    first, second = await both(seeded, view, json.dumps({"query": query}).encode(), {})
    same(first, second)
    assert runs.count == (1 if plain else 0)


VARIABLES = (
    "query($n: String!, $l: Int) { trainingResults(modelName: $n, limit: $l) { trainingId } }"
)


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        ({"query": VARIABLES, "variables": {"n": "m1", "l": 2}}, True),
        ({"query": VARIABLES, "variables": {"n": 5}}, True),  # a variable of the wrong type
        ({"query": VARIABLES, "variables": {}}, True),  # a required variable missing
        ({"query": VARIABLES, "variables": None, "operationName": None}, True),
        ({"query": TWO, "operationName": "R"}, True),
        ({"query": TWO, "operationName": "S"}, False),  # no such operation
        ({"query": VARIABLES, "variables": [1]}, False),
        ({"query": 5}, False),
        ({"query": PLAIN[0], "extensions": {}}, False),
        ([{"query": PLAIN[0]}], False),  # a batch
        ("not an object", False),
        (["not an object"], False),
        (None, False),
    ],
)
async def test_bodies_and_variables(seeded, view, body, plain):
    runs = Runs(view)
    first, second = await both(seeded, view, json.dumps(body).encode(), {})
    same(first, second)
    assert runs.count == (1 if plain else 0)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"query": "{ models { modelName } }", "x": NaN}', {}),
        (b'{"query": "{ models { modelName } }"', {}),
        (b"\xff\xfe", {}),
        (b'{"query": "{ models { modelName } }"}', {"accept": "multipart/mixed"}),
        (b'{"query": "{ models { modelName } }"}', {"content-type": "text/plain"}),
    ],
)
async def test_other_requests_go_strawberrys_way(seeded, view, content, headers):
    runs = Runs(view)
    same(*await both(seeded, view, content, headers))
    assert runs.count == 0


async def test_callers_without_the_read_scope_are_refused_alike(settings, mongodb_url):
    """The scope checks are the operations' own: the plain way refuses as the other does."""
    async with serving(settings, mongodb_url, anonymous_scopes="write") as app:
        (view,) = views(app)
        async with caller(app) as anonymous:
            token = await make_token(anonymous, "writer")
            runs = Runs(view)
            for headers in ({}, {"authorization": "Bearer wrong"}):
                first, second = await both(anonymous, view, MODELS, headers)
                same(first, second)
                assert first.json()["errors"][0]["extensions"]["code"] in (
                    "FORBIDDEN", "UNAUTHENTICATED"
                )  # fmt: skip
            assert runs.count == 2
        async with caller(app, token=token) as holder:
            first, second = await both(holder, view, MODELS, {})
            same(first, second)
            assert "errors" not in first.json()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_generated_queries_answer_alike(seeded, view, data):
    schema = view.schema.as_str()
    query = data.draw(queries(schema, allow_x00=False))
    first, second = await both(seeded, view, json.dumps({"query": query}).encode(), {})
    same(first, second)
