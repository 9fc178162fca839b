"""Generated requests against every REST route of `/openapi.json`, on a real server.

Each answer must be no 5xx, a documented status, the documented content type and headers, and
a body matching the documented schema; a request the schema rules out must be refused with a
4xx. The server and its databases belong to this module, so what the requests leave behind
reaches no other test.
"""

import re
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pymongo import MongoClient
from rest_fixtures import Server, put_file, running_server
from schemathesis import GenerationMode, checks

from flrepo.app import rest_face

pytest_plugins = ["rest_fixtures"]

EXAMPLES = 10  # per route: the run stays well under a minute on a busy machine
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def fill(server: Server) -> None:
    """One record of each kind with its file, so the listings have something to check."""
    post = {
        "/model": {"model_name": "m", "model_version": "1", "meta": {"library": "keras"}},
        "/training-results": {
            "model_name": "m",
            "model_version": "1",
            "training_id": "t",
            "results": {"accuracy": 0.9},
        },
        "/strategy": {"strategy_name": "s", "meta": {"rounds": 3}},
        "/transformation": {"id": "x", "outputs": ["y"], "needs": {"GPU": True}},
    }
    for path, body in post.items():
        assert requests.post(server(path), json=body).status_code == 201
    for path in ("/model/m/1", "/training-results/m/1/t/c", "/strategy/s", "/transformation/x"):
        assert put_file(server(path), b"bytes").status_code == 204


@pytest.fixture(scope="module")
def fuzzed_server(
    sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_server(sync_mongo, mongodb_url, tmp_path_factory.mktemp("fuzz")) as server:
        fill(server)
        yield server


@pytest.fixture(scope="module")
def api(fuzzed_server: Server) -> schemathesis.BaseSchema:
    """The OpenAPI document as the server serves it."""
    return schemathesis.openapi.from_url(fuzzed_server("/openapi.json"))


# The routes, named as in the document, known before any server runs: one test each.
ROUTES = sorted(
    f"{method.upper()} {path}"
    for path, operations in rest_face().openapi()["paths"].items()
    for method in operations
)


def test_the_served_document_has_these_routes(api):
    served = [result.ok().label for result in api.get_all_operations()]
    assert sorted(served) == ROUTES


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_every_answer_matches_the_document(api, fuzzed_server, route, mode):
    """Valid requests (positive) and requests the document rules out (negative)."""
    operation = api.find_operation_by_label(route)
    session = requests.Session()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is not luck
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=fuzzed_server.url, session=session, checks=CHECKS)

    try:
        answers_as_documented()
    except Unsatisfiable:
        pytest.skip("the document allows any request of this route: none breaks it")


def test_a_405_allows_the_documented_methods_of_the_path(fuzzed_server):
    """PATCH, which no route takes, on every documented path: `Allow` lists that path's
    methods, not those of another path the URL also matches (PUT /training-results/{name}/…
    also matches /training-results/weights/p/p/p)."""
    document = requests.get(fuzzed_server("/openapi.json")).json()
    for path, operations in document["paths"].items():
        url = fuzzed_server(re.sub(r"\{[^}]+\}", "p", path))
        response = requests.patch(url)
        assert response.status_code == 405, (path, response.status_code)
        methods = {m.upper() for m in operations}
        if requests.head(url).status_code != 405:  # file routes answer HEAD, undocumented
            methods.add("HEAD")
        assert response.headers["allow"] == ", ".join(sorted(methods)), path
