"""`/model` routes: model metadata and model files."""

from flrepo.documents.errors import NotFound
from flrepo.graph.resolvers import models
from flrepo.rest_compat.bodies import ModelBody, ModelMetaBody
from flrepo.rest_compat.http import (
    Endpoint,
    Param,
    created,
    document,
    files_of,
    json_body,
    listing,
    no_content,
    query_param,
    raw_file,
    upload,
)
from flrepo.transfer.digests import file_sha256
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def _key(request: Request) -> tuple[str, str]:
    return request.path_params["name"], request.path_params["version"]


async def create(request: Request) -> Response:
    body = await json_body(request, ModelBody)
    meta = body.meta.to_meta() if body.meta else None
    await models.create_model(body.model_name, body.model_version, meta)
    return created()


async def upload_file(request: Request) -> Response:
    sha256 = file_sha256(request.headers)
    await models.upload_model_file(files_of(request), *_key(request), await upload(request), sha256)
    return no_content()


async def update_meta(request: Request) -> Response:
    body = await json_body(request, ModelMetaBody)
    await models.update_model_meta(*_key(request), body.to_meta())
    return no_content()


async def list_all(request: Request) -> Response:
    trained = request.query_params.get("trained", "").lower() in ("true", "1", "yes")
    return listing(await models.list_models(trained=True if trained else None, limit=None))


async def get_meta(request: Request) -> Response:
    name = query_param(request, "model_name")
    version = query_param(request, "model_version")
    model = await models.get_model(name, version)
    if model is None:
        raise NotFound(f"model {name!r} version {version!r} does not exist")
    return JSONResponse(document(model))


async def download(request: Request) -> Response:
    model = await models.get_model(*_key(request))
    return await raw_file(request, model and model.model_id, "no such model, or it has no file")


async def delete(request: Request) -> Response:
    await models.delete_model(files_of(request), *_key(request))
    return no_content()


MODEL = {"$ref": "#/components/schemas/ModelBody"}
TAG = "models"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/model",
        create,
        "Create a model",
        TAG,
        201,
        ModelBody,
        errors=(400, 422),
        slash=True,
    ),
    Endpoint(
        "PUT",
        "/model/meta/{name}/{version}",
        update_meta,
        "Replace a model's meta",
        TAG,
        204,
        ModelMetaBody,
        errors=(404, 422),
    ),
    Endpoint(
        "PUT",
        "/model/{name}/{version}",
        upload_file,
        "Upload a model file",
        TAG,
        204,
        upload=True,
        errors=(404, 413, 422),
    ),
    Endpoint(
        "GET",
        "/model",
        list_all,
        "List models",
        TAG,
        slash=True,
        query=(
            Param("trained", {"type": "boolean"}, description="only models with training results"),
        ),
        response={"type": "array", "items": MODEL},
    ),
    Endpoint(
        "GET",
        "/model/meta",
        get_meta,
        "A model's metadata",
        TAG,
        query=(
            Param("model_name", {"type": "string"}, True),
            Param("model_version", {"type": "string"}, True),
        ),
        response=MODEL,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/model/{name}/{version}",
        download,
        "Download a model file",
        TAG,
        raw=True,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        "/model/{name}/{version}",
        delete,
        "Delete a model and its file",
        TAG,
        204,
        errors=(404,),
    ),
]
