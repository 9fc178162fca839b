"""The file routes every collection has: upload (PUT), download (GET, HEAD) and delete (DELETE).

Each router lists its own in a table of `FileRoute`s; `add_file_routes` declares them. The
parameters of a route's path are the keys of its document, given in order to the operations.
"""

import re
from collections.abc import Awaitable, Callable
from inspect import Parameter, Signature, signature
from typing import Any

from fastapi import APIRouter, Request
from flrepo.documents.errors import NotFound
from flrepo.rest_compat.bodies import Name
from flrepo.transfer.dependencies import Files
from flrepo.transfer.documented_answers import RAW, errors
from flrepo.transfer.downloads import file_response
from flrepo.transfer.form_upload import MULTIPART, Digest, Upload
from starlette.responses import Response

NO_CONTENT = {"status_code": 204, "response_class": Response}  # no Content-Type, as the original
OPTIONS: dict[str, dict[str, Any]] = {
    "PUT": {**NO_CONTENT, "responses": errors(404, 413), "openapi_extra": MULTIPART},
    "GET": {"response_class": Response, "responses": {**RAW, **errors(404)}},
    "DELETE": {**NO_CONTENT, "responses": errors(404)},
}
NAMES = {"PUT": "upload_file", "GET": "download", "DELETE": "delete"}
Operation = Callable[..., Awaitable[Any]]


def _endpoint(path: str, name: str, run: Operation) -> Operation:
    """`run(keys, ...)` as an endpoint named `name` that takes the parameters of `path` (each a
    `Name`) instead of `keys`. FastAPI reads what to pass from an endpoint's signature: written
    out, the endpoints of the file routes would be repeated on four routers with other keys."""
    keys = re.findall(r"{(\w+)}", path)

    async def endpoint(**given: Any) -> Any:
        return await run([given.pop(key) for key in keys], **given)

    parameters = [Parameter(key, Parameter.KEYWORD_ONLY, annotation=Name) for key in keys]
    needs = list(signature(run).parameters.values())[1:]
    parameters += [need.replace(kind=Parameter.KEYWORD_ONLY) for need in needs]
    endpoint.__signature__ = Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = name
    return endpoint


def add_file_routes(
    router: APIRouter,
    routes: list[tuple[str, ...]],
    find: Operation | None = None,
    upload: Operation | None = None,
    delete: Operation | None = None,
) -> None:
    """Declare `routes` on `router`, in their order: (method, path, summary), and the name of
    the operation where it is not the one of every router (`NAMES`); a GET also answers HEAD.

    A download finds the document by its keys (`find`) and answers its file, or 404; an upload
    calls `upload(files, *keys, source, sha256)`, a delete `delete(files, *keys)`."""

    async def put(keys: list[str], files: Files, source: Upload, sha256: Digest) -> None:
        assert upload is not None
        await upload(files, *keys, source, sha256)

    async def get(keys: list[str], files: Files, request: Request) -> Response:
        assert find is not None
        doc = await find(*keys)
        record = await files.get(getattr(doc, doc.FILE_FIELD)) if doc else None
        if record is None:  # "no such model", named after the route's path (/model/...)
            raise NotFound(
                f"no such {request.scope['route'].path.split('/')[1]}, or it has no file"
            )
        return file_response(request, files, record, "application/octet-stream")

    async def remove(keys: list[str], files: Files) -> None:
        assert delete is not None
        await delete(files, *keys)

    runs = {"PUT": put, "GET": get, "DELETE": remove}
    for method, path, summary, *name in routes:
        endpoint = _endpoint(path, name[0] if name else NAMES[method], runs[method])
        router.add_api_route(path, endpoint, methods=[method], summary=summary, **OPTIONS[method])
        if method == "GET":
            router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
