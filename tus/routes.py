"""The tus 1.0 endpoints: core, creation (with upload), termination, expiration, checksum.

    POST   /uploads/        Upload-Length, Upload-Metadata -> 201 Location: /uploads/{id}
    HEAD   /uploads/{id}    -> Upload-Offset, Upload-Length
    PATCH  /uploads/{id}    Upload-Offset + bytes (application/offset+octet-stream)
    DELETE /uploads/{id}    forget the upload
    OPTIONS                 what this server supports

The last byte attaches the file to its target (see `operations.uploads`). An upload's id is
random and the upload is its creator's alone: to anyone else it is 404, as an unknown id.
Errors are JSON `{"detail": message}`; 460 is tus's checksum mismatch, 429 (with
Retry-After) a caller past its share, 408 a PATCH whose bytes stalled (what came is kept).
"""

from collections.abc import AsyncIterator, Awaitable, Callable

from flrepo.documents.errors import (
    DigestMismatch,
    InvalidInput,
    NotFound,
    RepositoryError,
    TooLarge,
    TooManyRequests,
    Unauthenticated,
)
from flrepo.documents.uploads import Upload, UploadStore
from flrepo.operations.uploads import (
    begin_upload,
    cancel_upload,
    continue_upload,
    get_upload,
)
from flrepo.transfer import numbers
from flrepo.transfer.digests import header_sha256
from flrepo.tus.headers import CHECKSUMS, body_check, format_metadata, http_date, parse_metadata
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
OFFSET_TYPE = "application/offset+octet-stream"
CHECKSUM_MISMATCH = 460  # tus's own status for bytes that fail their checksum
Handler = Callable[[Request], Awaitable[Response]]


def routes() -> list[Route]:
    return [
        Route("/uploads/", _tus(_collection), methods=["POST", "OPTIONS"]),
        Route("/uploads", _tus(_collection), methods=["POST", "OPTIONS"]),
        Route(
            "/uploads/{upload_id}",
            _tus(_upload),
            methods=["HEAD", "PATCH", "DELETE", "POST", "OPTIONS"],
        ),
    ]


def _tus(handler: Handler) -> Handler:
    """Tus-Resumable in and out; domain errors as 4xx."""

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":
            response = _options(request)
        elif request.headers.get("tus-resumable") != VERSION:
            response = _error(412, f"this server speaks tus {VERSION} (Tus-Resumable)")
            response.headers["Tus-Version"] = VERSION
        else:
            try:
                response = await handler(request)
            except RepositoryError as exc:
                mismatch = isinstance(exc, DigestMismatch)
                response = _error(CHECKSUM_MISMATCH if mismatch else exc.status, str(exc))
                if isinstance(exc, Unauthenticated):
                    response.headers["WWW-Authenticate"] = "Bearer"
                if isinstance(exc, TooManyRequests):
                    response.headers["Retry-After"] = str(exc.retry_after)
            except ClientDisconnect:
                response = Response(status_code=400)
        response.headers["Tus-Resumable"] = VERSION
        return response

    return endpoint


def _options(request: Request) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(_store(request).files.max_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUMS),
        },
    )


async def _collection(request: Request) -> Response:
    """POST: a new upload, perhaps with its first bytes."""
    if "upload-defer-length" in request.headers:
        raise InvalidInput("Upload-Defer-Length is not supported; send Upload-Length")
    length = _int_header(request, "upload-length")
    upload = await begin_upload(
        _store(request),
        length,
        parse_metadata(request.headers.get("upload-metadata")),
        header_sha256(request.headers.get("repr-digest"), "Repr-Digest"),
    )
    location = f"{request.scope.get('root_path', '')}/uploads/{upload.id}"
    if _content_type(request) == OFFSET_TYPE:
        upload = await _append(request, upload, 0)
    return Response(status_code=201, headers={"Location": location, **_progress(upload)})


async def _upload(request: Request) -> Response:
    """HEAD, PATCH, DELETE of one upload (POST with X-HTTP-Method-Override for either)."""
    method = request.method
    if method == "POST":
        method = request.headers.get("x-http-method-override", "").upper()
    upload_id = request.path_params["upload_id"]
    uploads = _store(request)
    if method == "DELETE":
        await cancel_upload(uploads, upload_id)
        return Response(status_code=204)
    upload = await get_upload(uploads, upload_id)
    if upload is None:
        raise NotFound("no such upload (it may have expired)")
    if method == "HEAD":
        headers = {**_progress(upload), "Upload-Length": str(upload.length)}
        if upload.metadata:
            headers["Upload-Metadata"] = format_metadata(upload.metadata)
        return Response(status_code=200, headers={**headers, "Cache-Control": "no-store"})
    if method == "PATCH":
        if _content_type(request) != OFFSET_TYPE:
            return _error(415, f"PATCH bodies must be {OFFSET_TYPE}")
        upload = await _append(request, upload, _int_header(request, "upload-offset"))
        return Response(status_code=204, headers=_progress(upload))
    return _error(405, "Method Not Allowed")


async def _append(request: Request, upload: Upload, offset: int) -> Upload:
    declared = numbers.count(request.headers.get("content-length"))
    if declared is not None and offset + declared > upload.length:
        raise TooLarge(f"the upload is {upload.length} bytes long; the request goes past it")
    return await continue_upload(
        _store(request),
        upload,
        offset,
        _body(request),
        body_check(request.headers.get("upload-checksum"), request.headers.get("content-digest")),
        header_sha256(request.headers.get("repr-digest"), "Repr-Digest"),
    )


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request's bytes; a client that drops off just ends them (what came is kept)."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


def _progress(upload: Upload) -> dict[str, str]:
    return {"Upload-Offset": str(upload.offset), "Upload-Expires": http_date(upload.expires)}


def _int_header(request: Request, name: str) -> int:
    value = numbers.count(request.headers.get(name))
    if value is None:
        raise InvalidInput(f"{name} must be a non-negative integer of at most 19 digits")
    return value


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _store(request: Request) -> UploadStore:
    return request.app.state.uploads


def _error(status: int, message: str) -> Response:
    return JSONResponse({"detail": message}, status_code=status)
