"""`/transformation` routes: data transformations and their pickled objects."""

from flrepo.graph.resolvers import transformations
from flrepo.rest_compat.bodies import TransformationBody
from flrepo.rest_compat.http import (
    Endpoint,
    created,
    files_of,
    json_body,
    listing,
    no_content,
    raw_file,
    upload,
)
from flrepo.transfer.digests import file_sha256
from starlette.requests import Request
from starlette.responses import Response


async def create(request: Request) -> Response:
    body = await json_body(request, TransformationBody)
    await transformations.create_transformation(**body.to_kwargs())
    return created()


async def upload_file(request: Request) -> Response:
    sha256 = file_sha256(request.headers)
    source = await upload(request)
    await transformations.upload_transformation_file(
        files_of(request), request.path_params["id"], source, sha256
    )
    return no_content()


async def update_meta(request: Request) -> Response:
    """The body is the whole transformation; the id in the path decides which one."""
    body = await json_body(request, TransformationBody)
    kwargs = body.to_kwargs() | {"transformation_id": request.path_params["id"]}
    await transformations.update_transformation(**kwargs)
    return no_content()


async def list_all(request: Request) -> Response:
    return listing(await transformations.list_transformations(limit=None), {"storage_id"})


async def download(request: Request) -> Response:
    transformation = await transformations.get_transformation(request.path_params["id"])
    return await raw_file(
        request,
        transformation and transformation.storage_id,
        "no such transformation, or it has no file",
    )


async def delete(request: Request) -> Response:
    await transformations.delete_transformation(files_of(request), request.path_params["id"])
    return no_content()


TAG = "transformations"
ENDPOINTS = [
    Endpoint(
        "POST",
        "/transformation",
        create,
        "Create a transformation",
        TAG,
        201,
        TransformationBody,
        errors=(400, 422),
        slash=True,
    ),
    Endpoint(
        "PUT",
        "/transformation/meta/{id}",
        update_meta,
        "Replace a transformation's metadata (the object stays)",
        TAG,
        204,
        TransformationBody,
        errors=(404, 422),
    ),
    Endpoint(
        "PUT",
        "/transformation/{id}",
        upload_file,
        "Upload a transformation object",
        TAG,
        204,
        upload=True,
        errors=(404, 413, 422),
    ),
    Endpoint(
        "GET",
        "/transformation",
        list_all,
        "List transformations",
        TAG,
        slash=True,
        response={"type": "array", "items": {"$ref": "#/components/schemas/TransformationBody"}},
    ),
    Endpoint(
        "GET",
        "/transformation/{id}",
        download,
        "Download a transformation object",
        TAG,
        raw=True,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        "/transformation/{id}",
        delete,
        "Delete a transformation and its object",
        TAG,
        204,
        errors=(404,),
    ),
]
