"""The OpenAPI 3 document of the REST routes, built from the endpoint table and body models."""

import re
from typing import Any

from flrepo.rest_compat.http import Endpoint
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

REASONS = {
    400: "Already exists",
    404: "Not found",
    413: "File too large",
    422: "Invalid request",
}
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "loc": {"type": "array", "items": {}},
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            ]
        }
    },
}


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    words = re.sub(r"\W+", "_", endpoint.path).strip("_")
    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": f"{endpoint.method.lower()}_{words}",
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": p.schema,
            **({"description": p.description} if p.description else {}),
        }
        for p in endpoint.query
    ]
    if parameters:
        op["parameters"] = parameters
    if endpoint.body is not None:
        _add_schema(endpoint.body, schemas)
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    if endpoint.upload:
        op["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.raw:
        success["content"] = {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
        }
    elif endpoint.response is not None:
        success["content"] = {"application/json": {"schema": endpoint.response}}
    elif endpoint.status == 201:
        success["content"] = {"application/json": {"schema": {"type": "null"}}}
    responses = {str(endpoint.status): success}
    for status in endpoint.errors:
        responses[str(status)] = {
            "description": REASONS[status],
            "content": {"application/json": {"schema": ERROR}},
        }
    op["responses"] = responses
    return op


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _add_schema(model: type[BaseModel], schemas: dict[str, Any]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema


def openapi_document(endpoints: list[Endpoint], bodies: list[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for body in bodies:
        _add_schema(body, schemas)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",  # pydantic writes JSON Schema 2020-12, which 3.1 uses
        "info": {
            "title": "FL Repository REST API",
            "version": "1.0",
            "description": "The original REST routes; GraphQL is at /graphql.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def openapi_route(document: dict[str, Any]):
    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    return openapi_json
