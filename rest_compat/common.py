"""What the original's routers share: the answers of creates and updates, stored documents."""

from typing import Any

from fastapi.responses import JSONResponse, Response
from flrepo.transfer.documented_answers import errors
from pydantic import BaseModel

# The answers of the routes that create and that update metadata, on every router; a 204 has
# no Content-Type, as the original's `Response(status_code=204)` had none.
CREATED: dict[str, Any] = {"status_code": 201, "responses": errors(400, 415)}
UPDATED: dict[str, Any] = {"status_code": 204, "responses": errors(400, 404, 415)}
UPDATED["response_class"] = Response


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: list[Any], exclude: set[str] | None = None) -> JSONResponse:
    return JSONResponse([document(doc, exclude) for doc in docs])
