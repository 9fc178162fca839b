"""`/training-results/{name}/{version}/{training_id}/...`: training runs and their rounds, for
clients that speak only REST (the original service has no such routes)."""

import json
from typing import Any

from fastapi import APIRouter, Request
from flrepo.documents.errors import InvalidInput, NotFound
from flrepo.documents.runs import Objective, Round
from flrepo.operations import runs
from flrepo.rest_compat.bodies import Name
from flrepo.rest_compat.common import Files, errors
from flrepo.rest_compat.file_routes import RAW
from flrepo.transfer.downloads import file_response
from flrepo.transfer.multipart import MultipartReader, StreamedUpload
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

router = APIRouter(tags=["training runs"])
RUN = "/training-results/{name}/{version}/{training_id}"
FORM = {
    "type": "object",
    "required": ["round", "weights"],
    "properties": {
        "round": {"type": "string", "description": "JSON: number, metrics, participants"},
        "weights": {"type": "string", "format": "binary"},
        "aggregator_state": {"type": "string", "format": "binary"},
    },
}
MULTIPART = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": FORM}}}
}


class RunBody(BaseModel):
    strategy_name: str | None = None
    transformation_ids: list[str] = []
    objective: Objective | None = None


def shown(doc: Round, request: Request) -> dict[str, Any]:
    """A round as JSON, with the download paths of its files (null once deleted)."""
    body = doc.model_dump(mode="json", exclude={"id", "revision_id"})
    root = request.scope.get("root_path", "")
    for field in ("weights_id", "aggregator_state_id"):
        body[field.replace("_id", "_url")] = body[field] and f"{root}/files/{body[field]}"
    return body


@router.post(
    RUN + "/run", summary="Start a training run", status_code=201, responses=errors(400, 404)
)
async def start(name: Name, version: Name, training_id: Name, body: RunBody, files: Files) -> Any:
    run = await runs.start_run(files, name, version, training_id, **dict(body))
    return run.model_dump(mode="json", exclude={"id", "revision_id"})


@router.post(
    RUN + "/rounds",
    summary="Record a round (multipart: round, weights[, aggregator_state])",
    status_code=201,
    responses=errors(404, 413),
    openapi_extra=MULTIPART,
)
async def record(
    name: Name, version: Name, training_id: Name, request: Request, files: Files
) -> Any:
    length = request.headers.get("content-length", "")
    reader = MultipartReader(
        request.stream(),
        request.headers.get("content-type", ""),
        int(length) if length.isdigit() else None,
    )
    await reader.open("round")
    try:
        given = json.loads(await reader.read_field())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the form field `round` must be a JSON object") from None
    if not isinstance(given, dict):
        raise InvalidInput("the form field `round` must be a JSON object")

    async def aggregator_state() -> StreamedUpload | None:
        """The part after the weights, if there is one: it must be the aggregator state."""
        part = await reader.next_part()
        if part is not None and part.name != "aggregator_state":
            raise InvalidInput(f"unexpected form field {part.name!r} after `weights`")
        source = StreamedUpload(reader, "aggregator_state")
        source.part = part
        return source if part else None

    doc = await runs.record_round(
        files,
        request.app.state.run_policy,
        name,
        version,
        training_id,
        given.get("number"),
        given.get("metrics"),
        given.get("participants"),
        StreamedUpload(reader, "weights"),
        aggregator_state,
        given.get("weights_sha256"),
    )
    return JSONResponse(shown(doc, request), 201)


@router.get(RUN + "/rounds", summary="Rounds of a run, by number")
async def rounds(
    name: Name,
    version: Name,
    training_id: Name,
    request: Request,
    limit: int = 100,
    offset: int = 0,
) -> Any:
    found = await runs.list_rounds(name, version, training_id, limit, offset)
    return [shown(doc, request) for doc in found]


@router.get(RUN + "/checkpoint", summary="The last round, to resume from", responses=errors(404))
async def checkpoint(name: Name, version: Name, training_id: Name, request: Request) -> Any:
    doc = await runs.latest_round(name, version, training_id)
    if doc is None:
        raise NotFound("the run has no rounds yet")
    return shown(doc, request)


@router.head(RUN + "/rounds/{number}/weights", include_in_schema=False)
@router.get(
    RUN + "/rounds/{number}/weights",
    summary="Download a round's weights",
    response_class=Response,
    responses={**RAW, **errors(404)},
)
async def weights(
    name: Name, version: Name, training_id: Name, number: int, files: Files, request: Request
) -> Response:
    doc = await runs.get_round(name, version, training_id, number)
    record = await files.get(doc.weights_id) if doc else None
    if record is None:
        raise NotFound("no such round, or its weights were not kept")
    return file_response(request, files, record, "application/octet-stream")
