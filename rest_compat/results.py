"""`/training-results` routes: metrics and final weights of training runs."""

from fastapi import APIRouter, Request
from flrepo.documents.errors import NotFound
from flrepo.operations import results, streams
from flrepo.rest_compat.bodies import Name, TrainingResultBody
from flrepo.rest_compat.common import CREATED, listing
from flrepo.rest_compat.file_routes import add_file_routes
from flrepo.transfer.base64_body import base64_response
from flrepo.transfer.dependencies import Files
from flrepo.transfer.documented_answers import RAW, errors
from flrepo.transfer.downloads import file_response
from starlette.responses import Response

router = APIRouter(tags=["training results"])
TEXT = {"text/plain": {"schema": {"type": "string", "contentEncoding": "base64"}}}
SENT = "Base64 text, without a Content-Type as the original sent it"
BASE64 = {200: {"content": {**TEXT, **RAW[200]["content"]}, "description": SENT}}


@router.post("/training-results", summary="Create a training result", **CREATED)
@router.post("/training-results/", status_code=201, include_in_schema=False)
async def create(body: TrainingResultBody) -> None:
    await results.create_result(**dict(body))


@router.get(
    "/training-results", summary="List training results", response_model=list[TrainingResultBody]
)
@router.get("/training-results/", include_in_schema=False)
async def list_all() -> Response:
    return listing(await streams.stream_results())


@router.head("/training-results/weights/{name}/{version}/{training_id}", include_in_schema=False)
@router.get(
    "/training-results/weights/{name}/{version}/{training_id}",
    summary="Download weights as base64 text (raw with Accept: application/octet-stream)",
    response_class=Response,
    responses={**BASE64, **errors(404)},
)
async def weights(
    name: Name, version: Name, training_id: Name, files: Files, request: Request
) -> Response:
    """The weights as base64 text, as the original answered them, or raw bytes."""
    result = await results.get_result(name, version, training_id)
    record = await files.get(result.weights_id) if result else None
    if record is None:
        raise NotFound("no such training result, or it has no weights")
    if "application/octet-stream" in request.headers.get("accept", ""):
        return file_response(request, files, record, "application/octet-stream")
    return base64_response(request, files, record)


@router.get(
    "/training-results/{name}/{version}",
    summary="Training results of one model version",
    response_model=list[TrainingResultBody],
)
async def list_of_model(name: Name, version: Name) -> Response:
    return listing(await streams.stream_results(name, version))


FILE_ROUTES = [
    ("PUT", "/training-results/{name}/{version}/{training_id}/{configuration_id}",
     "Upload the final weights", "upload_weights"),
    ("DELETE", "/training-results/{name}/{version}/{training_id}",
     "Delete a training result and its weights"),
]  # fmt: skip
add_file_routes(router, FILE_ROUTES, upload=results.upload_weights, delete=results.delete_result)
