"""`/metrics` in the Prometheus text format, and the access log as JSON lines."""

import asyncio
import json
import logging
import subprocess
import time

import httpx
from helpers import GraphQL, upload_request
from prometheus_client.parser import text_string_to_metric_families
from rest_fixtures import flrepo_command, running_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from flrepo.metrics import Metrics
from flrepo.middleware.observe import JsonFormatter, Observer

pytest_plugins = ["rest_fixtures"]


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples, route: str, status: str, method: str = "GET") -> float:
    labels = frozenset({"method": method, "route": route, "status": status}.items())
    return samples.get(("flrepo_http_requests_total", labels), 0)


async def test_metrics_count_the_requests_just_made(client: httpx.AsyncClient, gql: GraphQL):
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    for name in ("a", "b"):  # two raw paths, one route template
        assert (await client.get(f"/model/{name}/1")).status_code == 404
    assert (await client.get("/no/such/thing/at/all")).status_code == 404
    await gql.data("{ models { modelName } strategies { strategyName } }")
    await gql.raw('mutation { deleteModel(modelName: "x", modelVersion: "1") }')

    samples = await scrape(client)
    assert requests_of(samples, "/healthz", "200") == 3
    assert requests_of(samples, "/model/{name}/{version}", "404") == 2
    assert requests_of(samples, "unmatched", "404") == 1
    assert requests_of(samples, "/graphql", "200", "POST") == 2
    assert not any("/model/a/1" in str(labels) for _, labels in samples)

    def operations(kind: str, field: str, outcome: str) -> float:
        labels = frozenset({"type": kind, "field": field, "outcome": outcome}.items())
        return samples.get(("flrepo_graphql_operations_total", labels), 0)

    assert operations("query", "models", "ok") == 1
    assert operations("query", "strategies", "ok") == 1
    assert operations("mutation", "deleteModel", "error") == 1

    latency = frozenset({"method": "GET", "route": "/healthz"}.items())
    assert samples[("flrepo_http_request_duration_seconds_count", latency)] == 3
    assert samples[("flrepo_database_up", frozenset())] == 1
    assert samples[("flrepo_database_ping_seconds", frozenset())] > 0
    assert samples[("flrepo_subscriptions_open", frozenset())] == 0
    assert samples[("flrepo_uploads_in_progress", frozenset())] == 0


async def test_bytes_and_uploads_in_progress(client: httpx.AsyncClient, gql: GraphQL):
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    query = """mutation($file: Upload!) {
      uploadModelFile(modelName: "m", modelVersion: "1", file: $file) { modelName }
    }"""
    payload = b"x" * 100_000
    first_half = payload[:50_000]
    headers, chunks = upload_request(query, {}, [first_half, payload[50_000:]])
    half_way, go_on = asyncio.Event(), asyncio.Event()

    async def body():
        """The first half of the file, then a pause until the test has looked."""
        for chunk in chunks:
            yield chunk
            if chunk is first_half:
                half_way.set()
                await go_on.wait()

    upload = asyncio.create_task(client.post("/graphql", headers=headers, content=body()))
    await half_way.wait()
    during = await scrape(client)
    go_on.set()
    response = await upload
    assert response.status_code == 200, response.text
    assert during[("flrepo_uploads_in_progress", frozenset())] == 1

    file_id = await gql.data('{ model(modelName: "m", modelVersion: "1") { file { id } } }')
    download = await client.get(f"/files/{file_id['model']['file']['id']}")
    assert download.content == payload
    after = await scrape(client)
    assert after[("flrepo_uploads_in_progress", frozenset())] == 0
    graphql = frozenset({"route": "/graphql"}.items())
    assert after[("flrepo_http_received_bytes_total", graphql)] >= len(payload)
    files = frozenset({"route": "/files/{file_id}"}.items())
    assert after[("flrepo_http_sent_bytes_total", files)] == len(payload)


def test_json_logs_have_one_line_a_request(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_LOG_FORMAT": "json"}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        assert httpx.get(server("/model/m/1")).status_code == 404
        assert httpx.get(server("/healthz")).status_code == 200  # logged after the first
        deadline = time.monotonic() + 10
        while '"/healthz"' not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = server.log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's too
    requests = [r for r in records if r.get("message") == "request" and r["path"] == "/model/m/1"]
    assert len(requests) == 1, records
    line = requests[0]
    assert line["route"] == "/model/{name}/{version}"
    assert line["status"] == 404
    assert line["logger"] == "flrepo.middleware.access"
    assert {"time", "level", "method", "duration_ms", "bytes_in", "bytes_out"} <= set(line)
    assert "token" not in line  # no token named the caller


def test_an_unknown_log_format_is_refused(tmp_path):
    done = subprocess.run(
        [flrepo_command(), "serve", "--help"],
        env={"FLREPO_LOG_FORMAT": "xml", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 78  # an invalid setting, as README's table of exit codes says
    assert "FLREPO_LOG_FORMAT must be one of text, json" in done.stderr


async def test_the_log_line_names_the_token_when_the_request_has_one(caplog):
    async def whoami(request: Request) -> Response:
        request.state.token_name = "trainer-7"  # as an authentication layer would
        return Response("ok")

    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(Observer, metrics=Metrics())
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.INFO, logger="flrepo.middleware.access"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/whoami")).status_code == 200
    (record,) = [r for r in caplog.records if r.name == "flrepo.middleware.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["token"] == "trainer-7"
    assert line["route"] == "/whoami"
    assert "token=trainer-7" in record.getMessage()


async def test_a_mounted_app_is_one_route_label():
    async def inner(scope, receive, send):
        await Response("inner")(scope, receive, send)

    metrics = Metrics()
    app = Starlette(routes=[Mount("/static", app=inner)])
    app.add_middleware(Observer, metrics=metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for name in ("a.js", "b.css", "c/d.png"):
            assert (await client.get(f"/static/{name}")).status_code == 200
    labels = {"method": "GET", "route": "/static/{path}", "status": "200"}
    assert metrics.registry.get_sample_value("flrepo_http_requests_total", labels) == 3
