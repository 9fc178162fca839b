"""A stored file as an HTTP response: streamed, with its length, type, name and hash."""

import re
from urllib.parse import quote

from flrepo.documents.files import FileStore, StoredFile
from starlette.responses import Response, StreamingResponse

# Recorded types a browser may render as active content (pages, scripts, vector images,
# documents with scripts) are served as application/octet-stream instead.
ACTIVE_PARTS = ("html", "xml", "javascript", "ecmascript", "svg", "pdf", "x-shockwave")
INERT_TEXT = frozenset({"text/plain", "text/csv"})
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
# Whatever the type, the browser must not guess another, and runs nothing it shows.
SAFETY_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def file_response(
    files: FileStore, record: StoredFile, content_type: str | None = None
) -> Response:
    """Stream `record` with its length, type, name and hash in the headers."""
    name = record.filename.rsplit("/", 1)[-1] or record.id
    headers = {
        "Content-Length": str(record.length),
        **SAFETY_HEADERS,
        "Content-Disposition": (
            f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
    }
    if record.sha256:
        headers["ETag"] = f'"{record.sha256}"'
    media_type = content_type or safe_type(record.content_type)
    return StreamingResponse(files.stream(record.id), media_type=media_type, headers=headers)


def _ascii(name: str) -> str:
    """A plain fallback filename for clients that ignore `filename*`."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


def safe_type(recorded: str | None) -> str:
    """The recorded content type (without parameters) unless a browser could run it."""
    media = (recorded or "").split(";", 1)[0].strip().lower()
    if not MEDIA_TYPE.match(media) or any(part in media for part in ACTIVE_PARTS):
        return "application/octet-stream"
    top = media.split("/", 1)[0]
    if top in ("multipart", "message") or (top == "text" and media not in INERT_TEXT):
        return "application/octet-stream"
    return media
