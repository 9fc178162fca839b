"""`GET /files/{id}`: a stored file's raw bytes, streamed."""

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from documents.files import FileStore, StoredFile
from graph.resolvers.files import get_file


def file_response(
    files: FileStore, record: StoredFile, content_type: str | None = None
) -> Response:
    """Stream `record` with its length, type, name and hash in the headers."""
    name = record.filename.rsplit("/", 1)[-1] or record.id
    headers = {
        "Content-Length": str(record.length),
        "Content-Disposition": (
            f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
    }
    if record.sha256:
        headers["ETag"] = f'"{record.sha256}"'
    media_type = content_type or record.content_type or "application/octet-stream"
    return StreamingResponse(files.stream(record.id), media_type=media_type, headers=headers)


async def download_file(request: Request) -> Response:
    files: FileStore = request.app.state.files
    record = await get_file(files, request.path_params["file_id"])
    if record is None:
        return JSONResponse({"detail": "no such file"}, status_code=404)
    if record.sha256 and request.headers.get("if-none-match") == f'"{record.sha256}"':
        return Response(status_code=304, headers={"ETag": f'"{record.sha256}"'})
    return file_response(files, record)


def _ascii(name: str) -> str:
    """A plain fallback filename for clients that ignore `filename*`."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
