"""`/model` routes: model metadata and model files."""

from typing import Annotated

from fastapi import APIRouter, Query
from flrepo.documents.errors import NotFound
from flrepo.operations import models, streams
from flrepo.rest_compat.bodies import ModelBody, ModelMeta, Name
from flrepo.rest_compat.common import CREATED, UPDATED, document, listing
from flrepo.rest_compat.file_routes import add_file_routes
from flrepo.transfer.documented_answers import errors
from starlette.responses import JSONResponse, Response

router = APIRouter(tags=["models"])


@router.post("/model", summary="Create a model", **CREATED)
@router.post("/model/", status_code=201, include_in_schema=False)
async def create(body: ModelBody) -> None:
    await models.create_model(**dict(body))


@router.put("/model/meta/{name}/{version}", summary="Replace a model's meta", **UPDATED)
async def update_meta(name: Name, version: Name, meta: ModelMeta) -> None:
    await models.update_model_meta(name, version, meta)


@router.get("/model", summary="List models", response_model=list[ModelBody])
@router.get("/model/", include_in_schema=False)
async def list_all(
    trained: Annotated[bool, Query(description="only models with training results")] = False,
) -> Response:
    return listing(await streams.stream_models(trained))


@router.get(
    "/model/meta", summary="A model's metadata", response_model=ModelBody, responses=errors(404)
)
async def get_meta(model_name: Name, model_version: Name) -> Response:
    model = await models.get_model(model_name, model_version)
    if model is None:
        raise NotFound(f"model {model_name!r} version {model_version!r} does not exist")
    return JSONResponse(document(model))


FILE_ROUTES = [
    ("PUT", "/model/{name}/{version}", "Upload a model file"),
    ("GET", "/model/{name}/{version}", "Download a model file"),
    ("DELETE", "/model/{name}/{version}", "Delete a model and its file"),
]
add_file_routes(
    router, FILE_ROUTES, models.get_model, models.upload_model_file, models.delete_model
)
