"""Checks of every request to a FastAPI application, before its route reads the body."""

import json
import re

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError


async def check_request(request: Request) -> None:
    """Both checks below: one dependency of the application, since FastAPI's handling of each
    dependency costs every request."""
    refuse_encoded_slash(request)
    await check_json_body(request)


def refuse_encoded_slash(request: Request) -> None:
    """The server decodes the path before routing, so a name holding an encoded '/' would be
    split into other parameters (DELETE /model/a%2F1 deleting model a version 1). No name may
    hold a '/': no route takes such a path."""
    if b"%2f" in request.scope.get("raw_path", b"").lower():
        raise HTTPException(404, "Not Found")


JSON_TYPE = re.compile(r"\s*application/([^;/]*\+)?json\s*(;|$)", re.IGNORECASE)


async def check_json_body(request: Request) -> None:
    """415 for a JSON route's body declared as another type: a page of another site may send
    text/plain or a form without asking first. A body with no Content-Type is read as JSON
    (deployed components send it so), except from a page: browsers send `Origin` with it.
    422 for a string with a lone surrogate (`"\\ud800"`), which has no UTF-8 to store."""
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return
    declared = request.headers.get("content-type")
    if declared and not JSON_TYPE.match(declared):
        raise HTTPException(415, f"the body must be application/json, not {declared!r}")
    if not declared and "origin" in request.headers:
        raise HTTPException(415, "a body sent from a web page must be declared application/json")
    if await request.body():
        try:
            json.dumps(await request.json(), ensure_ascii=False).encode()  # parsed once, cached
        except UnicodeEncodeError as exc:
            error = {"type": "string_unicode", "loc": ("body",), "msg": str(exc), "input": None}
            raise RequestValidationError([error]) from None
