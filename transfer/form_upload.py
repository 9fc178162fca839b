"""A FastAPI dependency: the file of a multipart upload form, streamed, and its stated sha256."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from flrepo.documents.errors import InvalidInput
from flrepo.transfer.digests import file_sha256
from flrepo.transfer.multipart import (
    MultipartError,
    MultipartReader,
    SignedUpload,
    StreamedUpload,
)
from pydantic import BaseModel, Field


class FileForm(BaseModel):
    """An upload's multipart form: the file in the field `file`; an OpenSSF model-signing
    bundle of it, optionally, in the field `signature` (before or after the file)."""

    file: bytes
    signature: bytes | None = Field(
        default=None, description="An OpenSSF model-signing bundle (JSON) of the file"
    )


MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": FileForm.model_json_schema()}},
    }
}


async def upload(request: Request) -> SignedUpload:
    """The multipart form field `file`, positioned at its bytes but not yet read: never spooled;
    with the field `signature`, read when the file has been (kept if it came first)."""
    declared = request.headers.get("content-length", "")
    reader = MultipartReader(
        request.stream(),
        request.headers.get("content-type", ""),
        int(declared) if declared.isdigit() else None,
    )
    source = StreamedUpload(reader, "file", sole=True)
    signed = SignedUpload(source, "signature")
    try:
        await source.open()
    except MultipartError:
        raise
    except InvalidInput:
        missing = {"type": "missing", "loc": ("body", "file"), "msg": "Field required"}
        raise RequestValidationError([{**missing, "input": None}]) from None
    return signed


def expected_sha256(request: Request) -> str | None:
    """The sha256 the client says its upload has (RFC 9530 `Repr-Digest`, `Content-Digest`)."""
    return file_sha256(request.headers)


Upload = Annotated[SignedUpload, Depends(upload)]
Digest = Annotated[str | None, Depends(expected_sha256)]
