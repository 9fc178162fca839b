"""What the original's routers share: the answers of creates and updates, stored documents."""

from typing import Any

from fastapi.responses import Response
from flrepo.operations.streams import DocumentStream
from flrepo.transfer.documented_answers import errors
from flrepo.transfer.json_stream import json_array_response
from pydantic import BaseModel

# The answers of the routes that create and that update metadata, on every router; a 204 has
# no Content-Type, as the original's `Response(status_code=204)` had none.
CREATED: dict[str, Any] = {"status_code": 201, "responses": errors(400, 415)}
UPDATED: dict[str, Any] = {"status_code": 204, "responses": errors(400, 404, 415)}
UPDATED["response_class"] = Response


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: DocumentStream[Any], exclude: set[str] | None = None) -> Response:
    """The documents as a JSON array, written batch by batch as the cursor is read."""
    return json_array_response(
        [document(doc, exclude) for doc in batch] async for batch in docs.batches()
    )
