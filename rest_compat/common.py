"""What the REST routes share: checks of every request, the file store, answers, error documents."""

import json
import re
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from flrepo.documents.files import FileStore
from flrepo.operations.streams import DocumentStream
from flrepo.transfer.json_stream import json_array_response
from pydantic import BaseModel


class Message(BaseModel):
    """FastAPI's error body for anything but invalid input."""

    detail: str


REASONS = {
    400: "Already exists, or a body that is not UTF-8",
    404: "Not found",
    413: "File too large",
    415: "The body is not declared as JSON",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (FastAPI adds 422 where it validates input)."""
    return {status: {"model": Message, "description": REASONS[status]} for status in statuses}


# The answers of the routes that create and that update metadata, on every router.
CREATED: dict[str, Any] = {"status_code": 201, "responses": errors(400, 415)}
UPDATED: dict[str, Any] = {"status_code": 204, "responses": errors(400, 404, 415)}


async def refuse_encoded_slash(request: Request) -> None:
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


def files_of(request: Request) -> FileStore:
    return request.app.state.files


Files = Annotated[FileStore, Depends(files_of)]


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: DocumentStream[Any], exclude: set[str] | None = None) -> Response:
    """The documents as a JSON array, written batch by batch as the cursor is read."""
    return json_array_response(
        [document(doc, exclude) for doc in batch] async for batch in docs.batches()
    )
