"""`/models/available` and `/models/download/shell`: the `fs.files` documents themselves."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from flrepo.documents.files import StoredFile
from flrepo.operations import files
from flrepo.transfer.dependencies import Files
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

router = APIRouter(tags=["files"])
PLAIN = {ObjectId: str, datetime: lambda value: value.replace(tzinfo=None).isoformat()}


class FileDocument(BaseModel):
    """An `fs.files` document as listed (the stored one, without `_id`)."""

    filename: str
    length: int
    chunkSize: int
    uploadDate: str = Field(
        description="UTC, ISO 8601 without an offset, as the original service wrote it",
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$",
    )
    sha256: str | None = None
    training_id: str | None = None
    safety: dict[str, Any] | None = Field(
        default=None, description="the file's pickle scan (absent if never scanned)"
    )


LISTED: dict[str, Any] = {"response_model": list[FileDocument]}


def _listing(records: list[StoredFile]) -> Response:
    docs = [{k: v for k, v in r.document.items() if k != "_id"} for r in records]
    return JSONResponse(jsonable_encoder(docs, custom_encoder=PLAIN))


async def _newest(store: Files, filename: str) -> Response:
    record = await files.newest_file(store, filename)
    return _listing([record] if record else [])


@router.get("/models/available", summary="List stored files, oldest first", **LISTED)
@router.get("/models/available/", include_in_schema=False)
async def available(store: Files) -> Response:
    return _listing(await files.list_files(store, limit=None))


@router.get(
    "/models/download/shell/{filename}",
    summary="Newest file of a name ('_' for '/'), as a one-element list",
    **LISTED,
)
async def shell_by_filename(filename: str, store: Files) -> Response:
    return await _newest(store, filename.replace("_", "/"))


@router.get(
    "/models/download/shell/{name}/{version}/{configuration_id}",
    summary="Newest weights file of a configuration, as a one-element list",
    **LISTED,
)
async def shell_weights(name: str, version: str, configuration_id: str, store: Files) -> Response:
    return await _newest(store, f"weights/{name}/{version}/{configuration_id}")
