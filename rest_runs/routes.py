"""`/training-results/{name}/{version}/{training_id}/...`: training runs and their rounds, for
clients that speak only REST (the original service has no such routes)."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from flrepo.documents.errors import InvalidInput, NotFound
from flrepo.documents.runs import Objective, Round
from flrepo.operations import runs
from flrepo.operations.validation import check_name, exact_names
from flrepo.transfer.dependencies import Files
from flrepo.transfer.documented_answers import RAW, Message, errors
from flrepo.transfer.downloads import file_response
from flrepo.transfer.forms import JsonAndFiles
from flrepo.transfer.numbers import count
from flrepo.transfer.validators import NAME_SCHEMA, checked
from pydantic import BaseModel, WithJsonSchema
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope


def _as_given(value: Any, what: str) -> str:
    """A name in a path, checked but not normalised, as the original's routes take theirs."""
    with exact_names():
        return check_name(value, what)


Name = Annotated[str, checked(_as_given, "the name"), WithJsonSchema(NAME_SCHEMA)]


class RunRoute(APIRoute):
    """Declines `/training-results/weights/…`, the original's weights route (this router
    comes first, so that a 405 names the methods of these paths, not of the original's
    `PUT /training-results/{name}/{version}/{training_id}/{configuration_id}`)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if child.get("path_params", {}).get("name") == "weights":
            return Match.NONE, {}
        return match, child


router = APIRouter(tags=["training runs"], route_class=RunRoute)
RUN = "/training-results/{name}/{version}/{training_id}"
CONFLICT = {409: {"model": Message, "description": "Recorded already, with other content"}}
FILE = {"type": "string", "format": "binary"}
FORM = {"type": "object", "required": ["round", "weights"], "properties": {
    "round": {"type": "string", "description": "JSON: number, metrics, participants"},
    "weights": FILE, "aggregator_state": FILE}}  # fmt: skip
MULTIPART = {"requestBody": {"content": {"multipart/form-data": {"schema": FORM}}}}
STARTED = {**errors(400, 404, 415), **CONFLICT}
ROUND_FIELDS = ("number", "metrics", "participants", "weights_sha256")  # of the JSON field
RECORDED = {"responses": {**errors(400, 404, 413), **CONFLICT}, "openapi_extra": MULTIPART}


class RunBody(BaseModel):
    strategy_name: str | None = None
    transformation_ids: list[str] = []
    objective: Objective | None = None


def shown(doc: Round, request: Request) -> dict[str, Any]:
    """A round as JSON, with the download paths of its files (null once deleted)."""
    body = doc.model_dump(mode="json", exclude={"id", "revision_id"})
    for field in ("weights_id", "aggregator_state_id"):
        path = f"{request.scope.get('root_path', '')}/files/{body[field]}"
        body[field.replace("_id", "_url")] = body[field] and path
    return body


@router.post(RUN + "/run", summary="Start a training run", status_code=201, responses=STARTED)
async def start(name: Name, version: Name, training_id: Name, body: RunBody, files: Files) -> Any:
    run = await runs.start_run(files, name, version, training_id, **dict(body))
    return run.model_dump(mode="json", exclude={"id", "revision_id"})


@router.post(RUN + "/rounds", summary="Record a round", status_code=201, **RECORDED)
async def record(
    name: Name, version: Name, training_id: Name, request: Request, files: Files
) -> dict[str, Any]:
    form = await JsonAndFiles.read(request, "round")
    given = {field: form.fields.get(field) for field in ROUND_FIELDS}
    weights, state = form.file("weights"), lambda: form.next_file("aggregator_state")
    policy = request.app.state.run_policy
    key = (name, version, training_id)
    doc = await runs.record_round(
        files, policy, *key, **given, weights=weights, aggregator_state=state
    )
    return shown(doc, request)


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


WEIGHTS = RUN + "/rounds/{number}/weights"
RAW_FILE = {"response_class": Response, "responses": {**RAW, **errors(404)}}


@router.get(WEIGHTS, summary="Download a round's weights", **RAW_FILE)
async def weights(
    name: Name, version: Name, training_id: Name, number: Name, files: Files, request: Request
) -> Response:
    # No docstring: it would become the operation's description. Ranges, HEAD and 304 as any file.
    if (whole := count(number)) is None:
        raise InvalidInput("a round number is a whole number")
    doc = await runs.get_round(name, version, training_id, whole)
    record = await files.get(doc.weights_id) if doc else None
    if record is None:
        raise NotFound("no such training-results, or it has no file")
    return file_response(request, files, record, "application/octet-stream")


router.add_api_route(WEIGHTS, weights, methods=["HEAD"], include_in_schema=False)
