"""A FastAPI dependency: the file of a multipart upload form, streamed, and its stated sha256."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from flrepo.documents.errors import InvalidInput
from flrepo.transfer.digests import file_sha256
from flrepo.transfer.multipart import MultipartError, MultipartReader, StreamedUpload
from pydantic import BaseModel


class FileForm(BaseModel):
    """An upload's multipart form: the file in the field `file`."""

    file: bytes


MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": FileForm.model_json_schema()}},
    }
}


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
        missing = {"type": "missing", "loc": ("body", "file"), "msg": "Field required"}
        raise RequestValidationError([{**missing, "input": None}]) from None
    return source


def expected_sha256(request: Request) -> str | None:
    """The sha256 the client says its upload has (RFC 9530 `Repr-Digest`, `Content-Digest`)."""
    return file_sha256(request.headers)


Upload = Annotated[StreamedUpload, Depends(upload)]
Digest = Annotated[str | None, Depends(expected_sha256)]
