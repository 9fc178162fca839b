"""`/transformation` routes: data transformations and their pickled objects."""

from fastapi import APIRouter
from flrepo.documents.transformation import Transformation
from flrepo.operations import streams, transformations
from flrepo.rest_compat.bodies import Name, TransformationBody
from flrepo.rest_compat.common import CREATED, UPDATED, listing
from flrepo.rest_compat.file_routes import add_file_routes
from starlette.responses import Response

router = APIRouter(tags=["transformations"])


@router.post("/transformation", summary="Create a transformation", **CREATED)
@router.post("/transformation/", status_code=201, include_in_schema=False)
async def create(body: TransformationBody) -> None:
    await transformations.create_transformation(Transformation(**dict(body)))


@router.put(
    "/transformation/meta/{id}",
    summary="Replace a transformation's metadata (the object stays)",
    **UPDATED,
)
async def update_meta(id: Name, body: TransformationBody) -> None:
    """The body is the whole transformation; the id in the path decides which one."""
    await transformations.update_transformation(id, Transformation(**dict(body)))


@router.get(
    "/transformation", summary="List transformations", response_model=list[TransformationBody]
)
@router.get("/transformation/", include_in_schema=False)
async def list_all() -> Response:
    docs = await streams.stream_transformations()
    return listing(docs, {Transformation.FILE_FIELD})


FILE_ROUTES = [
    ("PUT", "/transformation/{id}", "Upload a transformation object"),
    ("GET", "/transformation/{id}", "Download a transformation object"),
    ("DELETE", "/transformation/{id}", "Delete a transformation and its object"),
]
operations = (
    transformations.get_transformation,
    transformations.upload_transformation_file,
    transformations.delete_transformation,
)
add_file_routes(router, FILE_ROUTES, *operations)
