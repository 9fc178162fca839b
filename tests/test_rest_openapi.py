"""`/openapi.json` is a valid OpenAPI document of every route of API.md §3; `/docs` shows it."""

import json
from pathlib import Path

import pytest
import requests
from api_table import TABLE
from openapi_spec_validator import validate

pytest_plugins = ["rest_fixtures"]

# The document the server served before its routers were restructured: what it described must
# not change. Routes added since (the inference deployment's) are in TABLE, and nowhere else.
SERVED_BEFORE = Path(__file__).parent / "data" / "openapi.json"
UPLOADS = {(m, p) for m, p, _, _ in TABLE if m == "PUT" and "/meta/" not in p and "{" in p}


@pytest.fixture(scope="module")
def document(rest_server):
    response = requests.get(rest_server("/openapi.json"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_the_document_is_the_one_served_before(document):
    before = json.loads(SERVED_BEFORE.read_text())
    assert {k: v for k, v in document.items() if k not in ("paths", "components")} == {
        k: v for k, v in before.items() if k not in ("paths", "components")
    }
    for path, operations in before["paths"].items():
        assert document["paths"][path] == operations, path
    for name, schema in before["components"]["schemas"].items():
        assert document["components"]["schemas"][name] == schema, name
    added = {(m.upper(), p) for p in document["paths"].keys() - before["paths"].keys()
             for m in document["paths"][p]}  # fmt: skip
    assert added <= {(method, path) for method, path, _, _ in TABLE}, added


def test_the_document_is_valid_openapi(document):
    assert document["openapi"].startswith("3.")
    validate(document)


@pytest.mark.parametrize(("method", "path", "success", "failures"), TABLE)
def test_every_route_of_the_table_is_documented(document, method, path, success, failures):
    assert path in document["paths"], sorted(document["paths"])
    operation = document["paths"][path].get(method.lower())
    assert operation is not None, (method, path, sorted(document["paths"][path]))
    responses = operation["responses"]
    assert str(success) in responses
    for status in failures:
        assert str(status) in responses, (method, path, status)
    declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}


@pytest.mark.parametrize(("method", "path"), sorted(UPLOADS))
def test_uploads_are_documented_as_multipart_with_a_file_field(document, method, path):
    body = document["paths"][path][method.lower()]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert "file" in schema["properties"]
    assert "file" in schema["required"]


def test_json_bodies_use_the_original_field_names(document):
    schemas = document["components"]["schemas"]
    create_model = document["paths"]["/model"]["post"]["requestBody"]["content"]
    ref = create_model["application/json"]["schema"]["$ref"]
    model = schemas[ref.rsplit("/", 1)[-1]]
    assert {"model_name", "model_version"} <= set(model["required"])
    needs = set(schemas["MachineCapabilitiesBody"]["properties"])
    assert {"storage", "RAM", "GPU", "preinstalled_libraries", "available_models"} == needs


def test_docs_page_shows_swagger_ui_on_the_document(rest_server):
    response = requests.get(rest_server("/docs"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert "swagger-ui" in response.text.lower()
