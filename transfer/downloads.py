"""A stored file as an HTTP response: streamed, ranged, conditional, with name, hash, safety
and signature state.

Every route that serves a file's bytes answers through `file_response`, so all of them take
`Range` (206, 416), `If-Range`, `If-None-Match` (304) and `HEAD` alike. The ETag is the
file's sha256; files stored without one (by the original service) have no ETag, so they are
never answered 304 and `If-Range` never matches them (the whole file is sent).
"""

import re
import unicodedata
from urllib.parse import quote

from flrepo.documents.files import FileStore, StoredFile
from flrepo.transfer import numbers
from flrepo.transfer.digests import sha256_field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

# Recorded types a browser may render as active content (pages, scripts, vector images,
# documents with scripts) are served as application/octet-stream instead.
ACTIVE_PARTS = ("html", "xml", "javascript", "ecmascript", "svg", "pdf", "x-shockwave")
INERT_TEXT = frozenset({"text/plain", "text/csv"})
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
# Whatever the type, the browser must not guess another, and runs nothing it shows.
INERT = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
BEYOND = 10**numbers.MAX_DIGITS  # a byte position past the end of any file


def file_response(
    request: Request, files: FileStore, record: StoredFile, content_type: str | None = None
) -> Response:
    """`record` as the answer to `request` (GET or HEAD): whole, one range, or not modified."""
    etag = f'"{record.sha256}"' if record.sha256 else None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition(record),
        **INERT,
        **safety_header(record),
        **signature_header(record),
    }
    if etag:
        headers["ETag"] = etag
        headers["Repr-Digest"] = sha256_field(record.sha256)
    if etag and _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag, "Accept-Ranges": "bytes"})
    media_type = content_type or safe_type(record.content_type)
    start, stop, status = 0, record.length, 200
    wanted = request.headers.get("range")
    if wanted and _if_range_holds(request.headers.get("if-range"), etag):
        span = byte_range(wanted, record.length)
        if span == "unsatisfiable":
            return Response(
                status_code=416,
                headers={"Content-Range": f"bytes */{record.length}", "Accept-Ranges": "bytes"},
            )
        if span is not None:
            start, stop = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{record.length}"
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = files.stream(record.id, start, stop)
    return StreamingResponse(body, status_code=status, media_type=media_type, headers=headers)


def disposition(record: StoredFile) -> str:
    """`attachment` with the name the file was uploaded as (else its last path segment)."""
    name = record.uploaded_name or record.filename.rsplit("/", 1)[-1] or record.id
    name = _shown_name(name) or record.id
    return f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


def byte_range(header: str, length: int) -> tuple[int, int] | str | None:
    """The one `bytes=` range of a `Range` header as (start, stop), "unsatisfiable", or None.

    None means the header is to be ignored (malformed, another unit, or several ranges:
    the whole file is sent then, as RFC 9110 allows).
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not all(_digits(v) for v in (first, last) if v):
        return None
    if not first:  # suffix: the last N bytes
        suffix = _position(last)
        if suffix == 0 or length == 0:
            return "unsatisfiable"
        return max(0, length - suffix), length
    start = _position(first)
    if last and _position(last) < start:
        return None
    if start >= length:
        return "unsatisfiable"
    stop = min(_position(last) + 1, length) if last else length
    return start, stop


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _position(digits: str) -> int:
    """A byte position; one of more digits than any file's length has stands for "past the
    end" (BEYOND), so that a thousand-digit number is never converted."""
    value = numbers.count(digits)
    return BEYOND if value is None else value


def _matches(header: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` list names `etag` (weak comparison) or is `*`."""
    if not header:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _if_range_holds(header: str | None, etag: str | None) -> bool:
    """No `If-Range`, or one naming the current ETag exactly (a date never matches: no dates)."""
    return header is None or (etag is not None and header.strip() == etag)


def safety_header(record: StoredFile) -> dict[str, str]:
    """`X-Pickle-Safety`: the verdict of the file's pickle scan (UNSCANNED if never scanned)."""
    return {"X-Pickle-Safety": record.safety.verdict.value}


def signature_header(record: StoredFile) -> dict[str, str]:
    """`X-Signature-State`: whether a trusted key signed the file (UNSIGNED if none did)."""
    return {"X-Signature-State": record.signature.state.value}


def _shown_name(name: str) -> str:
    """The name without control, format (bidi, zero-width) or unpaired surrogate characters,
    which could make `\u202egnp.exe` show as "exe.png" or split the header."""
    return "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Cs")).strip()


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
