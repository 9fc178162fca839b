"""`/transformation` routes: data transformations and their pickled objects."""

from fastapi import APIRouter, Request
from flrepo.documents.transformation import Transformation
from flrepo.operations import transformations
from flrepo.rest_compat.bodies import Name, TransformationBody
from flrepo.rest_compat.common import (
    MULTIPART,
    RAW,
    Digest,
    Files,
    Upload,
    errors,
    listing,
    raw_file,
)
from starlette.responses import Response

router = APIRouter(tags=["transformations"])


@router.post(
    "/transformation",
    status_code=201,
    summary="Create a transformation",
    responses=errors(400, 415),
)
@router.post("/transformation/", status_code=201, include_in_schema=False)
async def create(body: TransformationBody) -> None:
    await transformations.create_transformation(Transformation(**dict(body)))


@router.put(
    "/transformation/meta/{id}",
    status_code=204,
    summary="Replace a transformation's metadata (the object stays)",
    responses=errors(400, 404, 415),
)
async def update_meta(id: Name, body: TransformationBody) -> None:
    """The body is the whole transformation; the id in the path decides which one."""
    await transformations.update_transformation(id, Transformation(**dict(body)))


@router.put(
    "/transformation/{id}",
    status_code=204,
    summary="Upload a transformation object",
    responses=errors(404, 413),
    openapi_extra=MULTIPART,
)
async def upload_file(id: Name, files: Files, source: Upload, sha256: Digest) -> None:
    await transformations.upload_transformation_file(files, id, source, sha256)


@router.get(
    "/transformation", summary="List transformations", response_model=list[TransformationBody]
)
@router.get("/transformation/", include_in_schema=False)
async def list_all() -> Response:
    return listing(await transformations.list_transformations(limit=None), {"storage_id"})


@router.head("/transformation/{id}", include_in_schema=False)
@router.get(
    "/transformation/{id}",
    summary="Download a transformation object",
    response_class=Response,
    responses={**RAW, **errors(404)},
)
async def download(id: Name, files: Files, request: Request) -> Response:
    transformation = await transformations.get_transformation(id)
    return await raw_file(
        request,
        files,
        transformation and transformation.storage_id,
        "no such transformation, or it has no file",
    )


@router.delete(
    "/transformation/{id}",
    status_code=204,
    summary="Delete a transformation and its object",
    responses=errors(404),
)
async def delete(id: Name, files: Files) -> None:
    await transformations.delete_transformation(files, id)
