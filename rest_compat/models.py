"""`/model` routes: model metadata and model files."""

from typing import Annotated

from fastapi import APIRouter, Query
from flrepo.documents.errors import NotFound
from flrepo.documents.ml_model import ModelMeta
from flrepo.operations import models
from flrepo.rest_compat.bodies import ModelBody, Name
from flrepo.rest_compat.common import document, errors, listing
from flrepo.rest_compat.file_routes import FileRoute, add_file_routes
from starlette.responses import JSONResponse, Response

router = APIRouter(tags=["models"])
FILE = "/model/{name}/{version}"


@router.post("/model", status_code=201, summary="Create a model", responses=errors(400, 415))
@router.post("/model/", status_code=201, include_in_schema=False)
async def create(body: ModelBody) -> None:
    await models.create_model(**dict(body))


@router.put(
    "/model/meta/{name}/{version}",
    status_code=204,
    summary="Replace a model's meta",
    responses=errors(400, 404, 415),
)
async def update_meta(name: Name, version: Name, meta: ModelMeta) -> None:
    await models.update_model_meta(name, version, meta)


@router.get("/model", summary="List models", response_model=list[ModelBody])
@router.get("/model/", include_in_schema=False)
async def list_all(
    trained: Annotated[bool, Query(description="only models with training results")] = False,
) -> Response:
    return listing(await models.list_models(trained=True if trained else None, limit=None))


@router.get(
    "/model/meta", summary="A model's metadata", response_model=ModelBody, responses=errors(404)
)
async def get_meta(model_name: Name, model_version: Name) -> Response:
    model = await models.get_model(model_name, model_version)
    if model is None:
        raise NotFound(f"model {model_name!r} version {model_version!r} does not exist")
    return JSONResponse(document(model))


add_file_routes(
    router,
    [
        FileRoute("PUT", FILE, "Upload a model file"),
        FileRoute("GET", FILE, "Download a model file"),
        FileRoute("DELETE", FILE, "Delete a model and its file"),
    ],
    find=models.get_model,
    upload=models.upload_model_file,
    delete=models.delete_model,
    missing="no such model, or it has no file",
)
