"""`/training-results` routes: metrics and final weights of training runs."""

import base64

from flrepo.graph.resolvers import results
from flrepo.rest_compat.bodies import TrainingResultBody
from flrepo.rest_compat.http import (
    Endpoint,
    created,
    detail,
    files_of,
    json_body,
    listing,
    no_content,
    upload,
)
from flrepo.transfer.downloads import file_response, safety_header
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

B64_BLOCK = 3 * 256 * 1024  # base64 encodes whole 3-byte groups, so blocks stay independent


async def create(request: Request) -> Response:
    body = await json_body(request, TrainingResultBody)
    await results.create_result(
        body.model_name, body.model_version, body.training_id, body.configuration_id, body.results
    )
    return created()


async def list_all(request: Request) -> Response:
    return listing(await results.list_results(limit=None))


async def list_of_model(request: Request) -> Response:
    params = request.path_params
    return listing(await results.list_results(params["name"], params["version"], limit=None))


async def upload_weights(request: Request) -> Response:
    p = request.path_params
    source = await upload(request)
    await results.upload_weights(
        files_of(request), p["name"], p["version"], p["training_id"], p["configuration_id"], source
    )
    return no_content()


async def weights(request: Request) -> Response:
    """Base64 of the weights as a JSON string (as deployed collectors decode it), or raw bytes."""
    p = request.path_params
    files = files_of(request)
    result = await results.get_result(p["name"], p["version"], p["training_id"])
    record = await files.get(result.weights_id) if result else None
    if record is None:
        return detail(404, "no such training result, or it has no weights")
    if "application/octet-stream" in request.headers.get("accept", ""):
        return file_response(files, record, "application/octet-stream")

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

    length = 2 + 4 * ((record.length + 2) // 3)
    return StreamingResponse(
        encoded(),
        media_type="application/json",
        headers={"Content-Length": str(length), **safety_header(record)},
    )


async def delete(request: Request) -> Response:
    p = request.path_params
    await results.delete_result(files_of(request), p["name"], p["version"], p["training_id"])
    return no_content()


RESULT = {"$ref": "#/components/schemas/TrainingResultBody"}
TAG = "training results"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/training-results",
        create,
        "Create a training result",
        TAG,
        201,
        TrainingResultBody,
        errors=(400, 422),
        slash=True,
    ),
    Endpoint(
        "GET",
        "/training-results",
        list_all,
        "List training results",
        TAG,
        slash=True,
        response={"type": "array", "items": RESULT},
    ),
    Endpoint(
        "GET",
        "/training-results/weights/{name}/{version}/{training_id}",
        weights,
        "Download weights, base64 in a JSON string (raw with Accept: application/octet-stream)",
        TAG,
        response={"type": "string", "format": "byte"},
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/training-results/{name}/{version}",
        list_of_model,
        "Training results of one model version",
        TAG,
        response={"type": "array", "items": RESULT},
    ),
    Endpoint(
        "PUT",
        "/training-results/{name}/{version}/{training_id}/{configuration_id}",
        upload_weights,
        "Upload the final weights",
        TAG,
        204,
        upload=True,
        errors=(404, 413, 422),
    ),
    Endpoint(
        "DELETE",
        "/training-results/{name}/{version}/{training_id}",
        delete,
        "Delete a training result and its weights",
        TAG,
        204,
        errors=(404,),
    ),
]
