"""`/training-results` routes: metrics and final weights of training runs."""

import base64

from fastapi import APIRouter, Request
from flrepo.documents.errors import NotFound
from flrepo.operations import results, streams
from flrepo.rest_compat.bodies import Name, TrainingResultBody
from flrepo.rest_compat.common import CREATED, Files, errors, listing
from flrepo.rest_compat.file_routes import RAW, add_file_routes
from flrepo.transfer.downloads import file_response, safety_header
from pydantic import Base64Str
from starlette.responses import Response, StreamingResponse

router = APIRouter(tags=["training results"])
B64_BLOCK = 3 * 256 * 1024  # base64 encodes whole 3-byte groups, so blocks stay independent


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
    summary="Download weights, base64 in a JSON string (raw with Accept: application/octet-stream)",
    response_model=Base64Str,
    responses={**RAW, **errors(404)},
)
async def weights(
    name: Name, version: Name, training_id: Name, files: Files, request: Request
) -> Response:
    """Base64 of the weights as a JSON string (as deployed collectors decode it), or raw bytes."""
    result = await results.get_result(name, version, training_id)
    record = await files.get(result.weights_id) if result else None
    if record is None:
        raise NotFound("no such training result, or it has no weights")
    if "application/octet-stream" in request.headers.get("accept", ""):
        return file_response(request, files, record, "application/octet-stream")
    headers = {"Content-Length": str(2 + 4 * ((record.length + 2) // 3)), **safety_header(record)}
    if request.method == "HEAD":
        return Response(media_type="application/json", headers=headers)

    async def encoded():
        yield b'"'
        pending = b""
        async for chunk in files.stream(record.id):
            pending += chunk
            cut = len(pending) - len(pending) % B64_BLOCK
            if cut:
                yield base64.b64encode(pending[:cut])
                pending = pending[cut:]
        yield base64.b64encode(pending) + b'"'

    return StreamingResponse(encoded(), media_type="application/json", headers=headers)


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
