"""The original REST API as a FastAPI application: its routes, error answers and OpenAPI."""

import json
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from flrepo.documents.errors import InvalidInput, RepositoryError, Unauthenticated
from flrepo.rest_compat import files, inference, models, results, strategies, transformations
from flrepo.rest_compat.common import check_json_body, refuse_encoded_slash
from flrepo.rest_compat.runs import router as runs_router
from flrepo.transfer.errors import internal_error
from flrepo.transfer.multipart import MultipartError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

ROUTERS = [m.router for m in (models, files, results, strategies, transformations)]
ROUTERS += [inference.services, inference.inferencers]
ROUTERS.insert(0, runs_router)  # first: see RunRoute


def _shown(error: dict[str, Any]) -> dict[str, Any]:
    """An error of FastAPI's list, without the refused input where JSON cannot show it
    (NaN, Infinity, an unpaired surrogate): the message says what was wrong with it."""
    shown = jsonable_encoder(error)
    try:
        json.dumps(shown, allow_nan=False).encode()
    except (ValueError, UnicodeError):
        shown = {k: v for k, v in shown.items() if k not in ("input", "ctx")}
    return shown


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 with FastAPI's list of errors, each one JSON can show."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_shown(e) for e in exc.errors()]}, 422)


async def invalid_input(request: Request, exc: Exception) -> Response:
    """422 with FastAPI's list of errors; a value the routes could not check is in the body."""
    where = ("body", "file") if isinstance(exc, MultipartError) else ("body",)
    error = {"type": "value_error", "loc": where, "msg": str(exc), "input": None}
    return await validation_error(request, RequestValidationError([error]))


async def repository_error(request: Request, exc: Exception) -> Response:
    """`{"detail": ...}` with the status of the error; 401 carries the Bearer challenge."""
    assert isinstance(exc, RepositoryError)
    challenge = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return JSONResponse({"detail": str(exc)}, exc.status, headers=challenge)


async def too_deep(request: Request, exc: Exception) -> Response:
    """A JSON body nested so deep that the parser gave up is invalid input, not a crash."""
    error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON nested too deeply"}
    return await validation_error(request, RequestValidationError([{**error, "input": None}]))


async def method_not_allowed(request: Request, exc: HTTPException) -> Response:
    """405 whose `Allow` names the methods of the path the request went to (the first route
    that matched it but for the method), on all of its routes, not just the first."""
    routes = [r for router in ROUTERS for r in router.routes]
    matched = [r for r in routes if r.matches(request.scope)[0] == Match.PARTIAL]
    methods = set((exc.headers or {}).get("Allow", "").split(", ")) - {""}
    if matched:
        path = matched[0].path
        methods = {m for r in routes if r.path == path for m in getattr(r, "methods", ())}
    exc.headers = {"Allow": ", ".join(sorted(methods))}
    return await http_exception_handler(request, exc)


async def client_disconnect(request: Request, exc: Exception) -> Response:
    """The client left mid-request: nobody reads the answer, and it is not the server's fault."""
    return Response(status_code=400)


def rest_app() -> FastAPI:
    """The REST routes; the file store is read from `app.state.files`."""
    app = FastAPI(
        title="FL Repository REST API",
        version="1.0",
        description="The original REST routes; GraphQL is at /graphql.",
        docs_url=None,  # /docs is served by the explorer, from local assets
        redoc_url=None,
        strict_content_type=False,  # a JSON body without Content-Type is read, as it always was
        dependencies=[Depends(refuse_encoded_slash), Depends(check_json_body)],
        exception_handlers={
            RequestValidationError: validation_error,
            InvalidInput: invalid_input,
            RepositoryError: repository_error,
            ClientDisconnect: client_disconnect,
            500: internal_error,
            RecursionError: too_deep,
            405: method_not_allowed,
        },
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
