"""A stored file answered as base64 text, encoded as it streams (the original's weights body)."""

import base64
from collections.abc import AsyncIterator

from flrepo.documents.files import FileStore, StoredFile
from flrepo.transfer.downloads import INERT, safety_header, signature_header
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

BLOCK = 3 * 256 * 1024  # base64 encodes whole 3-byte groups, so blocks stay independent


def base64_length(length: int) -> int:
    """Characters of the padded base64 of `length` bytes."""
    return 4 * ((length + 2) // 3)


async def base64_blocks(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The base64 of the concatenated `chunks`, block by block (the standard library's
    `base64` has no incremental encoder: this cuts the input at multiples of 3 bytes)."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        cut = len(pending) - len(pending) % BLOCK
        if cut:
            yield base64.b64encode(pending[:cut])
            pending = pending[cut:]
    yield base64.b64encode(pending)


def base64_response(request: Request, files: FileStore, record: StoredFile) -> Response:
    """`record` as bare base64 text with no Content-Type, as the original answered it
    (FastAPI's `Response(content=...)`), streamed in bounded blocks; HEAD sends no body."""
    headers = {
        "Content-Length": str(base64_length(record.length)),
        "X-Content-Type-Options": INERT["X-Content-Type-Options"],
        **safety_header(record),
        **signature_header(record),
    }
    if request.method == "HEAD":
        return Response(headers=headers)
    return StreamingResponse(base64_blocks(files.stream(record.id)), headers=headers)
