"""`/models/available` and `/models/download/shell`: the `fs.files` documents themselves."""

from flrepo.documents.files import StoredFile
from flrepo.graph.resolvers import files
from flrepo.rest_compat.http import Endpoint, files_of, plain
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def _listing(records: list[StoredFile]) -> JSONResponse:
    """`fs.files` documents as stored, without `_id`."""
    return JSONResponse(
        [plain({k: v for k, v in r.document.items() if k != "_id"}) for r in records]
    )


async def available(request: Request) -> Response:
    return _listing(await files.list_files(files_of(request), limit=None))


async def newest(request: Request, filename: str) -> Response:
    record = await files.newest_file(files_of(request), filename)
    return _listing([record] if record else [])


async def shell_by_filename(request: Request) -> Response:
    """The filename with `_` standing for `/` (e.g. `model_base_1`)."""
    return await newest(request, request.path_params["filename"].replace("_", "/"))


async def shell_weights(request: Request) -> Response:
    p = request.path_params
    return await newest(request, f"weights/{p['name']}/{p['version']}/{p['configuration_id']}")


FILE = {
    "type": "object",
    "properties": {
        "filename": {"type": "string"},
        "length": {"type": "integer"},
        "chunkSize": {"type": "integer"},
        "uploadDate": {"type": "string", "format": "date-time"},
        "sha256": {"type": "string"},
        "training_id": {"type": "string"},
        "safety": {
            "type": "object",
            "description": "Pickle scan of the file (absent if never scanned)",
            "properties": {
                "verdict": {
                    "type": "string",
                    "enum": ["SAFE", "SUSPICIOUS", "DANGEROUS", "NOT_PICKLE"],
                },
                "globals": {"type": "array", "items": {"type": "string"}},
                "dangerousGlobals": {"type": "array", "items": {"type": "string"}},
                "notes": {"type": "array", "items": {"type": "string"}},
                "scanner": {"type": "string"},
                "scannedAt": {"type": "string", "format": "date-time"},
            },
        },
    },
}
FILES = {"type": "array", "items": FILE}
TAG = "files"
ENDPOINTS = [
    Endpoint(
        "GET",
        "/models/available",
        available,
        "List stored files, oldest first",
        TAG,
        response=FILES,
        slash=True,
    ),
    Endpoint(
        "GET",
        "/models/download/shell/{filename}",
        shell_by_filename,
        "Newest file of a name ('_' for '/'), as a one-element list",
        TAG,
        response=FILES,
    ),
    Endpoint(
        "GET",
        "/models/download/shell/{name}/{version}/{configuration_id}",
        shell_weights,
        "Newest weights file of a configuration, as a one-element list",
        TAG,
        response=FILES,
    ),
]
