"""`/service` and `/inferencer` routes of the original's inference variant: services and
inferencers, each metadata plus a pickled object, routed as `/transformation` is."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from beanie import Document
from fastapi import APIRouter, Request
from flrepo.documents.files import FileStore
from flrepo.documents.inference import Inferencer, Service
from flrepo.operations import inference
from flrepo.rest_compat.bodies import MachineCapabilitiesBody, Name
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
from pydantic import BaseModel, Field
from starlette.responses import Response


class ServiceBody(BaseModel):
    """A service document's fields, with the id checked."""

    service_id: Name = Field(alias="id")
    description: str | None = None
    needs: MachineCapabilitiesBody | None = None


class InferencerBody(BaseModel):
    """An inferencer document's fields, with the id checked."""

    inferencer_id: Name = Field(alias="id")
    description: str | None = None
    library: str | None = None
    needs: MachineCapabilitiesBody | None = None
    use_cuda: bool | None = False


@dataclass(frozen=True)
class _Routes:
    """What one collection's routes need: its word, body, document and operations."""

    word: str
    body: type[BaseModel]
    document: type[Document]
    create: Callable[[Any], Awaitable[Any]]
    update: Callable[[str, Any], Awaitable[Any]]
    upload: Callable[..., Awaitable[Any]]
    listed: Callable[..., Awaitable[list[Any]]]
    get: Callable[[str], Awaitable[Any]]
    delete: Callable[[FileStore, str], Awaitable[bool]]


def _router(r: _Routes) -> APIRouter:
    """The six routes of the original for one collection (and the trailing-slash forms)."""
    router = APIRouter(tags=[f"{r.word}s"])
    path = f"/{r.word}"
    Body = r.body  # the body class, as FastAPI reads it from the annotations below

    @router.post(path, status_code=201, summary=f"Create a {r.word}", responses=errors(400, 415))
    @router.post(f"{path}/", status_code=201, include_in_schema=False)
    async def create(body: Body) -> None:
        await r.create(r.document(**dict(body)))

    @router.put(
        f"{path}/meta/{{id}}",
        status_code=204,
        summary=f"Replace a {r.word}'s metadata (the object stays)",
        responses=errors(400, 404, 415),
    )
    async def update_meta(id: Name, body: Body) -> None:
        """The body is the whole document; the id in the path decides which one."""
        await r.update(id, r.document(**dict(body)))

    @router.put(
        f"{path}/{{id}}",
        status_code=204,
        summary=f"Upload a {r.word} object",
        responses=errors(404, 413),
        openapi_extra=MULTIPART,
    )
    async def upload_file(id: Name, files: Files, source: Upload, sha256: Digest) -> None:
        await r.upload(files, id, source, sha256)

    @router.get(path, summary=f"List {r.word}s", response_model=list[Body])
    @router.get(f"{path}/", include_in_schema=False)
    async def list_all() -> Response:
        return listing(await r.listed(limit=None), {"storage_id"})

    @router.head(f"{path}/{{id}}", include_in_schema=False)
    @router.get(
        f"{path}/{{id}}",
        summary=f"Download a {r.word} object",
        response_class=Response,
        responses={**RAW, **errors(404)},
    )
    async def download(id: Name, files: Files, request: Request) -> Response:
        doc = await r.get(id)
        missing = f"no such {r.word}, or it has no file"
        return await raw_file(request, files, doc and doc.storage_id, missing)

    @router.delete(
        f"{path}/{{id}}",
        status_code=204,
        summary=f"Delete a {r.word} and its object",
        responses=errors(404),
    )
    async def delete(id: Name, files: Files) -> None:
        await r.delete(files, id)

    return router


services = _router(
    _Routes(
        "service",
        ServiceBody,
        Service,
        inference.create_service,
        inference.update_service,
        inference.upload_service_file,
        inference.list_services,
        inference.get_service,
        inference.delete_service,
    )
)
inferencers = _router(
    _Routes(
        "inferencer",
        InferencerBody,
        Inferencer,
        inference.create_inferencer,
        inference.update_inferencer,
        inference.upload_inferencer_file,
        inference.list_inferencers,
        inference.get_inferencer,
        inference.delete_inferencer,
    )
)
