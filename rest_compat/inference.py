"""`/service` and `/inferencer` routes of the original's inference variant: services and
inferencers, each metadata plus a pickled object, routed as `/transformation` is."""

from types import ModuleType

from fastapi import APIRouter
from flrepo.documents.inference import Inferencer, Service
from flrepo.operations import inference, streams
from flrepo.rest_compat.bodies import MachineCapabilitiesBody, Name
from flrepo.rest_compat.common import CREATED, UPDATED, listing
from flrepo.rest_compat.file_routes import add_file_routes
from pydantic import BaseModel, Field
from starlette.responses import Response


class ServiceBody(BaseModel):
    service_id: Name = Field(alias="id")
    description: str | None = None
    needs: MachineCapabilitiesBody | None = None


class InferencerBody(BaseModel):
    inferencer_id: Name = Field(alias="id")
    description: str | None = None
    library: str | None = None
    needs: MachineCapabilitiesBody | None = None
    use_cuda: bool | None = False


def _router(word: str, body: type[BaseModel], document: type, ops: ModuleType) -> APIRouter:
    """The original's routes of one collection: create, metadata, list, and its file routes."""
    router = APIRouter(tags=[f"{word}s"])
    create_doc, update_doc = getattr(ops, f"create_{word}"), getattr(ops, f"update_{word}")
    Body = body  # the body class, as FastAPI reads it from the annotations below

    @router.post(f"/{word}", summary=f"Create a {word}", **CREATED)
    @router.post(f"/{word}/", status_code=201, include_in_schema=False)
    async def create(body: Body) -> None:  # type: ignore[valid-type]
        await create_doc(document(**dict(body)))

    @router.put(f"/{word}/meta/{{id}}", summary=f"Replace a {word}'s metadata", **UPDATED)
    async def update_meta(id: Name, body: Body) -> None:  # type: ignore[valid-type]
        """The body is the whole document; the id in the path decides which one."""
        await update_doc(id, document(**dict(body)))

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


services = _router("service", ServiceBody, Service, inference)
inferencers = _router("inferencer", InferencerBody, Inferencer, inference)
