"""The routes of a collection keyed by one `id`, each a document plus a pickled object:
transformations, and the inference deployment's services and inferencers.

    POST   /{word}             create (201)         GET    /{word}       list, without file ids
    PUT    /{word}/meta/{id}   replace (204)        PUT    /{word}/{id}  upload the object
    GET    /{word}/{id}        download it          DELETE /{word}/{id}  delete both
"""

from types import ModuleType

from fastapi import APIRouter
from flrepo.operations import streams
from flrepo.rest_compat.bodies import Name
from flrepo.rest_compat.common import CREATED, UPDATED, listing
from flrepo.rest_compat.file_routes import add_file_routes
from pydantic import BaseModel
from starlette.responses import Response


def id_router(word: str, body: type[BaseModel], document: type, ops: ModuleType) -> APIRouter:
    """The original's routes of one collection, over `ops.create_{word}` and the like."""
    router = APIRouter(tags=[f"{word}s"])
    create_doc, update_doc = getattr(ops, f"create_{word}"), getattr(ops, f"update_{word}")
    Body = body  # the body class, as FastAPI reads it from the annotations below

    @router.post(f"/{word}", summary=f"Create a {word}", **CREATED)
    @router.post(f"/{word}/", status_code=201, include_in_schema=False)
    async def create(body: Body) -> None:  # type: ignore[valid-type]
        await create_doc(document(**dict(body)))

    summary = f"Replace a {word}'s metadata (the object stays)"

    @router.put(f"/{word}/meta/{{id}}", summary=summary, **UPDATED)
    async def update_meta(id: Name, body: Body) -> None:  # type: ignore[valid-type]
        await update_doc(id, document(**dict(body)))

    update_meta.__doc__ = f"The body is the whole {word}; the id in the path decides which one."

    @router.get(f"/{word}", summary=f"List {word}s", response_model=list[Body])
    @router.get(f"/{word}/", include_in_schema=False)
    async def list_all() -> Response:
        docs = await getattr(streams, f"stream_{word}s")()
        return listing(docs, {document.FILE_FIELD})

    file_routes = [
        ("PUT", f"/{word}/{{id}}", f"Upload a {word} object"),
        ("GET", f"/{word}/{{id}}", f"Download a {word} object"),
        ("DELETE", f"/{word}/{{id}}", f"Delete a {word} and its object"),
    ]
    operations = (getattr(ops, f"get_{word}"), getattr(ops, f"upload_{word}_file"))
    add_file_routes(router, file_routes, *operations, getattr(ops, f"delete_{word}"))
    return router
