"""A stored file as an HTTP response: streamed, with its length, type, name, hash and safety."""

from urllib.parse import quote

from flrepo.documents.files import FileStore, StoredFile
from starlette.responses import Response, StreamingResponse


def file_response(
    files: FileStore, record: StoredFile, content_type: str | None = None
) -> Response:
    """Stream `record` with its length, type, name, hash and pickle verdict in the headers."""
    name = record.filename.rsplit("/", 1)[-1] or record.id
    headers = {
        **safety_header(record),
        "Content-Length": str(record.length),
        "Content-Disposition": (
            f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
    }
    if record.sha256:
        headers["ETag"] = f'"{record.sha256}"'
    media_type = content_type or record.content_type or "application/octet-stream"
    return StreamingResponse(files.stream(record.id), media_type=media_type, headers=headers)


def safety_header(record: StoredFile) -> dict[str, str]:
    """`X-Pickle-Safety`: the verdict of the file's pickle scan (UNSCANNED if never scanned)."""
    return {"X-Pickle-Safety": record.safety.verdict.value}


def _ascii(name: str) -> str:
    """A plain fallback filename for clients that ignore `filename*`."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
