"""The original REST API as a FastAPI application: its routes, error answers and OpenAPI."""

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from flrepo.documents.errors import AlreadyExists, InvalidInput, NotFound, RepositoryError, TooLarge
from flrepo.rest_compat import files, models, results, strategies, transformations
from flrepo.rest_compat.common import check_json_body, refuse_encoded_slash
from flrepo.transfer.multipart import MultipartError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

STATUS = {NotFound: 404, AlreadyExists: 400, TooLarge: 413}
ROUTERS = [m.router for m in (models, files, results, strategies, transformations)]


async def invalid_input(request: Request, exc: Exception) -> Response:
    """422 with FastAPI's list of errors; a value the routes could not check is in the body."""
    where = ("body", "file") if isinstance(exc, MultipartError) else ("body",)
    error = {"type": "value_error", "loc": where, "msg": str(exc), "input": None}
    return await request_validation_exception_handler(request, RequestValidationError([error]))


async def repository_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=STATUS.get(type(exc), 400))


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
            InvalidInput: invalid_input,
            RepositoryError: repository_error,
            ClientDisconnect: client_disconnect,
            405: method_not_allowed,
        },
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
