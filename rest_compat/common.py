"""What the REST routes share: the file store, streamed uploads, answers and error documents."""

import json
import re
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from flrepo.documents.errors import InvalidInput
from flrepo.documents.files import FileStore
from flrepo.transfer.digests import file_sha256
from flrepo.transfer.downloads import file_response
from flrepo.transfer.multipart import MultipartError, MultipartReader, StreamedUpload
from pydantic import BaseModel


class Message(BaseModel):
    """FastAPI's error body for anything but invalid input."""

    detail: str


REASONS = {
    400: "Already exists, or a body that is not UTF-8",
    404: "Not found",
    413: "File too large",
    415: "The body is not declared as JSON",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (FastAPI adds 422 where it validates input)."""
    return {status: {"model": Message, "description": REASONS[status]} for status in statuses}


RAW = {200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}}


class FileForm(BaseModel):
    """An upload's multipart form: the file in the field `file`."""

    file: bytes


FORM = {"multipart/form-data": {"schema": FileForm.model_json_schema()}}
MULTIPART = {"requestBody": {"required": True, "content": FORM}}


async def refuse_encoded_slash(request: Request) -> None:
    """The server decodes the path before routing, so a name holding an encoded '/' would be
    split into other parameters (DELETE /model/a%2F1 deleting model a version 1). No name may
    hold a '/': no route takes such a path."""
    if b"%2f" in request.scope.get("raw_path", b"").lower():
        raise HTTPException(404, "Not Found")


JSON_TYPE = re.compile(r"\s*application/([^;/]*\+)?json\s*(;|$)", re.IGNORECASE)


async def check_json_body(request: Request) -> None:
    """415 for a JSON route's body declared as another type: a page of another site may send
    text/plain or a form without asking first. A body with no Content-Type is read as JSON
    (deployed components send it so), except from a page: browsers send `Origin` with it.
    422 for a string with a lone surrogate (`"\\ud800"`), which has no UTF-8 to store."""
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return
    declared = request.headers.get("content-type")
    if declared and not JSON_TYPE.match(declared):
        raise HTTPException(415, f"the body must be application/json, not {declared!r}")
    if not declared and "origin" in request.headers:
        raise HTTPException(415, "a body sent from a web page must be declared application/json")
    if await request.body():
        try:
            json.dumps(await request.json(), ensure_ascii=False).encode()  # parsed once, cached
        except UnicodeEncodeError as exc:
            error = {"type": "string_unicode", "loc": ("body",), "msg": str(exc), "input": None}
            raise RequestValidationError([error]) from None


def files_of(request: Request) -> FileStore:
    return request.app.state.files


async def upload(request: Request) -> StreamedUpload:
    """The multipart form field `file`, positioned at its bytes but not yet read: never spooled."""
    declared = request.headers.get("content-length", "")
    reader = MultipartReader(
        request.stream(),
        request.headers.get("content-type", ""),
        int(declared) if declared.isdigit() else None,
    )
    source = StreamedUpload(reader, "file", sole=True)
    try:
        await source.open()
    except MultipartError:
        raise
    except InvalidInput:
        missing = {
            "type": "missing",
            "loc": ("body", "file"),
            "msg": "Field required",
            "input": None,
        }
        raise RequestValidationError([missing]) from None
    return source


def expected_sha256(request: Request) -> str | None:
    """The sha256 the client says its upload has (RFC 9530 `Repr-Digest`, `Content-Digest`)."""
    return file_sha256(request.headers)


Files = Annotated[FileStore, Depends(files_of)]
Upload = Annotated[StreamedUpload, Depends(upload)]
Digest = Annotated[str | None, Depends(expected_sha256)]


async def raw_file(
    request: Request, files: FileStore, file_id: str | None, missing: str
) -> Response:
    """The file's bytes as `application/octet-stream` (ranges, HEAD, ETag), or 404 `missing`."""
    record = await files.get(file_id)
    if record is None:
        raise HTTPException(404, missing)
    return file_response(request, files, record, "application/octet-stream")


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: list[Any], exclude: set[str] | None = None) -> JSONResponse:
    return JSONResponse([document(doc, exclude) for doc in docs])
