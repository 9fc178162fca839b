"""`/transformation` routes: data transformations and their pickled objects."""

from fastapi import APIRouter
from flrepo.documents.transformation import Transformation
from flrepo.operations import transformations
from flrepo.rest_compat.bodies import Name, TransformationBody
from flrepo.rest_compat.common import errors, listing
from flrepo.rest_compat.file_routes import FileRoute, add_file_routes
from starlette.responses import Response

router = APIRouter(tags=["transformations"])
FILE = "/transformation/{id}"


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


@router.get(
    "/transformation", summary="List transformations", response_model=list[TransformationBody]
)
@router.get("/transformation/", include_in_schema=False)
async def list_all() -> Response:
    docs = await transformations.list_transformations(limit=None)
    return listing(docs, {Transformation.FILE_FIELD})


add_file_routes(
    router,
    [
        FileRoute("PUT", FILE, "Upload a transformation object"),
        FileRoute("GET", FILE, "Download a transformation object"),
        FileRoute("DELETE", FILE, "Delete a transformation and its object"),
    ],
    find=transformations.get_transformation,
    upload=transformations.upload_transformation_file,
    delete=transformations.delete_transformation,
    missing="no such transformation, or it has no file",
)
