"""A stored file's signature bundle over HTTP, for uploads that did not send one with the
file (resumable ones, above all):

    PUT /files/{id}/signature   body: the model-signing bundle (JSON) -> 200 the new state
    GET /files/{id}/signature   -> the bundle (404 if the file is unsigned)

Errors are JSON `{"detail": message}` with the status of the domain error.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from flrepo.documents.errors import RepositoryError, TooLarge, Unauthenticated
from flrepo.documents.files import FileStore
from flrepo.operations.signatures import file_bundle, sign_file
from flrepo.signing.bundles import MAX_BUNDLE_BYTES
from flrepo.signing.states import FileSignature
from flrepo.transfer.downloads import INERT
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def routes() -> list[Route]:
    return [Route("/files/{file_id}/signature", _errors(_signature), methods=["GET", "PUT"])]


def _errors(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except RepositoryError as exc:
            challenge = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
            return JSONResponse({"detail": str(exc)}, exc.status, headers=challenge)
        except ClientDisconnect:
            return Response(status_code=400)

    return endpoint


async def _signature(request: Request) -> Response:
    files: FileStore = request.app.state.files
    file_id = request.path_params["file_id"]
    if request.method == "GET":
        bundle = await file_bundle(files, file_id)
        return Response(bundle, media_type="application/json", headers=INERT)
    record = await sign_file(files, file_id, await _bundle(request))
    return JSONResponse(state(record.signature))


async def _bundle(request: Request) -> bytes:
    """The request's body, refused once it is longer than any bundle may be."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BUNDLE_BYTES:
            raise TooLarge(f"a signature bundle must be at most {MAX_BUNDLE_BYTES} bytes")
    return bytes(body)


def state(signature: FileSignature) -> dict[str, Any]:
    """A signature as JSON, without its bundle."""
    return {
        "state": signature.state.value,
        "signer": signature.signer,
        "signedAt": signature.signed_at.isoformat() if signature.signed_at else None,
        "detail": signature.detail or None,
    }
