"""How a FastAPI application answers what goes wrong: each error as `{"detail": ...}`.

Invalid input is FastAPI's 422 list of errors (each one JSON can show); a domain error its
own status; a 405 names every method of the path; a client that left gets a 400 nobody reads.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from flrepo.documents.errors import (
    InvalidInput,
    RepositoryError,
    TooManyRequests,
    Unauthenticated,
)
from flrepo.transfer.errors import internal_error
from flrepo.transfer.multipart import MultipartError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Match


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
    """`{"detail": ...}` with the status of the error; 401 carries the Bearer challenge,
    429 the seconds to wait (Retry-After)."""
    assert isinstance(exc, RepositoryError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"detail": str(exc)}, exc.status, headers=headers or None)


async def too_deep(request: Request, exc: Exception) -> Response:
    """A JSON body nested so deep that the parser gave up is invalid input, not a crash."""
    error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON nested too deeply"}
    return await validation_error(request, RequestValidationError([{**error, "input": None}]))


def method_not_allowed(routes: list[Any]) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The 405 handler of `routes`: `Allow` names the methods of the path the request went to
    (the first route that matched it but for the method), on all of its routes."""

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        matched = [r for r in routes if r.matches(request.scope)[0] == Match.PARTIAL]
        methods = set((exc.headers or {}).get("Allow", "").split(", ")) - {""}
        if matched:
            path = matched[0].path
            methods = {m for r in routes if r.path == path for m in getattr(r, "methods", ())}
        exc.headers = {"Allow": ", ".join(sorted(methods))}
        return await http_exception_handler(request, exc)

    return answer


async def client_disconnect(request: Request, exc: Exception) -> Response:
    """The client left mid-request: nobody reads the answer, and it is not the server's fault."""
    return Response(status_code=400)


HANDLERS: dict[Any, Any] = {
    RequestValidationError: validation_error,
    InvalidInput: invalid_input,
    RepositoryError: repository_error,
    ClientDisconnect: client_disconnect,
    500: internal_error,
    RecursionError: too_deep,
}  # and 405: method_not_allowed(the app's routes)
