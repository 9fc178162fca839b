"""What the REST routes share: the file store, answers, error documents."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from flrepo.documents.files import FileStore
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


# The answers of the routes that create and that update metadata, on every router; a 204 has
# no Content-Type, as the original's `Response(status_code=204)` had none.
CREATED: dict[str, Any] = {"status_code": 201, "responses": errors(400, 415)}
UPDATED: dict[str, Any] = {"status_code": 204, "responses": errors(400, 404, 415)}
UPDATED["response_class"] = Response


def files_of(request: Request) -> FileStore:
    return request.app.state.files


Files = Annotated[FileStore, Depends(files_of)]


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: list[Any], exclude: set[str] | None = None) -> JSONResponse:
    return JSONResponse([document(doc, exclude) for doc in docs])
