"""GraphQL cost limits: refused before they run, quickly, with a code; dashboards still pass."""

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from graphql import get_introspection_query
from helpers import running_app
from live_client import subscriptions
from rest_fixtures import assert_created, put_file, running_server
from websockets.exceptions import ConnectionClosedError

pytest_plugins = ["rest_fixtures"]

# "Well under": a refusal takes milliseconds, the attacks ran 28 s and 122 s; the bound leaves
# room for a test machine shared with other work.
QUICK_S = 3.0


def nested(levels: int) -> str:
    """models -> trainingResults -> model -> ... `levels` fields deep."""
    fields = ["models(limit: 20)"] + ["trainingResults", "model"] * levels
    inner = "modelName" if fields[levels - 1] != "trainingResults" else "trainingId"
    text = inner
    for name in reversed(fields[:levels]):
        text = f"{name} {{ {text} }}"
    return "{ " + text + " }"


ELEVEN = nested(11)
ALIASES = "{ " + " ".join(f"a{i}: models(limit: 20) {{ modelName }}" for i in range(3000)) + " }"
SHORT_ALIASES = "{" + " ".join(f"a{i}:models{{modelName}}" for i in range(3000)) + "}"
# Nested lists count at their limit (20 when none is given), so a dashboard names its pages.
DASHBOARD = """{ models(limit: 10, library: "limits") { modelName meta { library } file { length }
  trainingResults(limit: 5) { trainingId results weights { length sha256 }
    model { modelName trainingResults(limit: 5) { trainingId weights { length }
      model { meta { library } } } }
  } } }"""


@pytest.fixture(scope="module")
def stocked(rest_server):
    """20 models with 5 training results each (with weights), as in the report."""
    for m in range(20):
        assert_created(
            rest_server
            and requests.post(
                rest_server("/model"),
                json={
                    "model_name": f"lim{m}",
                    "model_version": "1",
                    "meta": {"library": "limits", "description": "limits test"},
                },
            )
        )
        for r in range(5):
            body = {
                "model_name": f"lim{m}",
                "model_version": "1",
                "training_id": f"r{r}",
                "results": {"acc": r},
            }
            assert_created(requests.post(rest_server("/training-results"), json=body))
        put_file(rest_server(f"/training-results/lim{m}/1/r0/cfg"), b"weights")
    return rest_server


def post(server, query: str, **variables) -> tuple[requests.Response, float]:
    start = time.perf_counter()
    response = requests.post(
        server("/graphql"), json={"query": query, "variables": variables}, timeout=120
    )
    return response, time.perf_counter() - start


def refused(response: requests.Response, code: str = "QUERY_TOO_COMPLEX") -> str:
    body = response.json()
    if response.status_code == 413:
        code = "QUERY_TOO_LARGE"
    assert body.get("data") is None, str(body)[:300]
    assert [e["extensions"]["code"] for e in body["errors"]] == [code], str(body)[:300]
    return body["errors"][0]["message"]


def test_eleven_levels_and_3000_aliases_are_refused_quickly_while_health_stays_fast(stocked):
    assert nested(11).count("{") == 12
    assert len(ALIASES) > 100_000 > len(SHORT_ALIASES)
    attacks = [ELEVEN, ALIASES, SHORT_ALIASES] * 4
    health: list[float] = []

    def probe() -> None:
        for _ in range(20):
            start = time.perf_counter()
            assert requests.get(stocked("/healthz"), timeout=30).status_code == 200
            health.append(time.perf_counter() - start)

    with ThreadPoolExecutor(4) as pool:
        prober = pool.submit(probe)
        answers = list(pool.map(lambda q: post(stocked, q), attacks))
        prober.result()
    for (response, seconds), query in zip(answers, attacks, strict=True):
        assert response.status_code == (413 if query is ALIASES else 200)
        message = refused(response)
        assert seconds < QUICK_S, (seconds, message)
        assert len(response.content) < 1000
    assert max(health) < QUICK_S, health
    # Eleven levels pass both the depth limit (10) and the object estimate: the depth limit,
    # checked with the document's validity, refuses first (test_the_estimate_refuses_eleven...).
    assert "deeper than 10 levels" in refused(post(stocked, ELEVEN)[0])
    assert "deeper than 10 levels" in refused(post(stocked, ELEVEN.replace("20", "0"))[0])
    assert "exceeds the limit of 100000 bytes" in refused(post(stocked, ALIASES)[0])
    assert "tokens" in refused(post(stocked, SHORT_ALIASES)[0])


def test_a_dashboard_query_passes(stocked):
    response, _ = post(stocked, DASHBOARD)
    body = response.json()
    assert "errors" not in body, body
    models = [m for m in body["data"]["models"] if m["modelName"].startswith("lim")]
    assert models and all(len(m["trainingResults"]) == 5 for m in models)
    nested_results = models[0]["trainingResults"][0]["model"]["trainingResults"]
    assert [r["trainingId"] for r in nested_results] == [f"r{i}" for i in range(5)]


def test_each_limit_has_its_own_message(stocked):
    # Six levels, but 20 x 10 x 1 x 10 x 1 x 10 objects by the estimate.
    wide = (
        "{ models(limit: 20) { trainingResults { model { trainingResults { model "
        "{ trainingResults { trainingId } } } } } } }"
    )
    assert "more than 5000 objects" in refused(post(stocked, wide)[0])
    # The page size may come from a variable; a small one passes.
    paged = (
        "query($n: Int) { models(limit: $n) { trainingResults { model { trainingResults "
        "{ model { modelName } } } } } }"
    )
    assert "more than 5000 objects" in refused(post(stocked, paged, n=1000)[0])
    assert "errors" not in post(stocked, paged, n=2)[0].json()
    aliases = (
        "{ " + " ".join(f"s{i}: strategies(limit: 1) {{ strategyName }}" for i in range(31)) + " }"
    )
    assert "more than 30 aliases" in refused(post(stocked, aliases)[0])
    big = "{ strategies { strategyName } }" + " " * 100_000
    response, seconds = post(stocked, big)
    assert response.status_code == 413 and seconds < QUICK_S
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_a_huge_body_is_refused_without_being_read(stocked):
    """A 55 MiB query: only the headers and 64 KiB are sent; the answer comes at once."""
    host, port = stocked.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    start = time.perf_counter()
    connection.putrequest("POST", "/graphql")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(55 * 1024 * 1024))
    connection.endheaders(b'{"query": "' + b"x" * 65536)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 413
    assert response.getheader("connection") == "close"
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    assert time.perf_counter() - start < QUICK_S


def test_a_thousand_aliased_mutations_are_a_coded_refusal(stocked):
    mutations = " ".join(
        f'a{i}: createStrategy(input: {{strategyName: "lim-m{i}"}}) {{ strategyName }}'
        for i in range(1000)
    )
    response, seconds = post(stocked, "mutation { " + mutations + " }")
    assert "tokens" in refused(response)
    assert seconds < QUICK_S
    assert stocked.db["strategies"].count_documents({"strategy_name": {"$regex": "^lim-m"}}) == 0


def test_deeply_nested_literals_are_a_coded_refusal(stocked):
    literal = "{a: " * 400 + "1" + "}" * 400
    response, _ = post(
        stocked,
        f'mutation {{ createStrategy(input: {{strategyName: "lim-deep", meta: {literal}}}) '
        "{ strategyName } }",
    )
    refused(response)
    assert stocked.db["strategies"].count_documents({"strategy_name": "lim-deep"}) == 0


def test_the_schema_query_of_graphiql_passes(stocked):
    response, _ = post(stocked, get_introspection_query(descriptions=True))
    body = response.json()
    assert "errors" not in body, str(body)[:300]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_limits_are_configurable(settings, mongodb_url):
    tight = settings.model_copy(update={"graphql_max_depth": 2, "graphql_max_aliases": 0})
    async with running_app(tight, mongodb_url) as client:
        alias = await client.post("/graphql", json={"query": "{ m: models { modelName } }"})
        assert "more than 0 aliases" in alias.json()["errors"][0]["message"]
        fine = await client.post("/graphql", json={"query": "{ models { file { id } } }"})
        assert fine.json() == {"data": {"models": []}}
        deep = await client.post(
            "/graphql",
            json={"query": "{ models { file { id } trainingResults { weights { id } } } }"},
        )
        assert "deeper than 2 levels" in deep.json()["errors"][0]["message"]
        assert fine.json() == {"data": {"models": []}}


async def test_the_estimate_refuses_eleven_levels_that_the_depth_limit_allows(
    settings, mongodb_url
):
    deep = settings.model_copy(update={"graphql_max_depth": 11})
    async with running_app(deep, mongodb_url) as client:
        body = (await client.post("/graphql", json={"query": ELEVEN})).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["QUERY_TOO_COMPLEX"]
        assert "more than 5000 objects" in body["errors"][0]["message"]
        shallow = ELEVEN.replace("20", "0")
        assert (await client.post("/graphql", json={"query": shallow})).json() == {
            "data": {"models": []}
        }


def test_subscriptions_over_websocket_have_the_same_limits(sync_mongo, mongodb_url, tmp_path):
    tight = {
        "FLREPO_GRAPHQL_MAX_DEPTH": "3",
        "FLREPO_GRAPHQL_MAX_ALIASES": "1",
        "FLREPO_GRAPHQL_MAX_TOKENS": "30",
        "FLREPO_GRAPHQL_MAX_OBJECTS": "5",
    }
    subscribe = "subscription { trainingResultAdded { %s } }"
    # Each refused query passes the other limits; the last one is refused after one that passes.
    queries = {
        subscribe % "a: trainingId model { file { id } }": None,
        subscribe % "model { file { safety { verdict } } }": "deeper than 3 levels",
        subscribe % "a: trainingId b: trainingId": "more than 1 aliases",
        subscribe % "model { modelName }": None,
        subscribe % "model { trainingResults { trainingId } }": "more than 5 objects",
    }
    with (
        running_server(sync_mongo, mongodb_url, tmp_path, env=tight) as server,
        subscriptions(server.url) as ws,
    ):
        for n, (query, message) in enumerate(queries.items()):
            ws.subscribe(str(n), query)
            if message is None:
                continue
            answer = ws.receive(10)
            assert answer["type"] == "error" and answer["id"] == str(n), answer
            [error] = answer["payload"]
            assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
            assert message in error["message"], error
        # Too many tokens is a syntax error: the protocol closes the connection (4400).
        ws.subscribe("tokens", subscribe % ("trainingId " * 30))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.receive(10)
    assert closed.value.rcvd.code == 4400
    assert "more than 30 tokens" in closed.value.rcvd.reason
