"""Reading length-prefixed BSON documents from a byte stream, strictly."""

import struct
import zlib
from typing import BinaryIO

import bson
from flrepo.seed.errors import CorruptDumpError

TERMINATOR = b"\xff\xff\xff\xff"
MIN_DOCUMENT = 5
# The server's own limit for a stored document plus the margin it allows internally.
MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024
_LENGTH = struct.Struct("<i")


def read_exact(stream: BinaryIO, n: int, what: str) -> bytes:
    """Exactly `n` bytes, or a CorruptDumpError naming `what` was cut off."""
    data = read_some(stream, n)
    if len(data) != n:
        raise CorruptDumpError(f"truncated: the data ends inside {what}")
    return data


def read_some(stream: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end); damaged gzip data becomes a CorruptDumpError."""
    chunks: list[bytes] = []
    wanted = n
    try:
        while wanted > 0:
            chunk = stream.read(wanted)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
    except EOFError:
        raise CorruptDumpError("truncated: the gzip stream ends before its end marker") from None
    except (zlib.error, OSError) as exc:
        raise CorruptDumpError(f"damaged gzip data ({exc})") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_document(stream: BinaryIO, what: str, allow_end: bool = False) -> bytes | None:
    """The next BSON document's raw bytes; None for the terminator (or a clean end if allowed)."""
    head = read_some(stream, 4)
    if not head and allow_end:
        return None
    if len(head) != 4:
        raise CorruptDumpError(f"truncated: the data ends inside {what}")
    if head == TERMINATOR:
        return None
    (length,) = _LENGTH.unpack(head)
    if length < MIN_DOCUMENT or length > MAX_DOCUMENT:
        raise CorruptDumpError(f"{what} is not BSON (impossible length {length})")
    raw = head + read_exact(stream, length - 4, what)
    if raw[-1] != 0:
        raise CorruptDumpError(f"{what} is not BSON (no closing zero byte)")
    return raw


def decode(raw: bytes, what: str) -> dict:
    """Decode raw BSON, turning any decoding failure into a CorruptDumpError."""
    try:
        return bson.decode(raw)
    except Exception as exc:  # the C decoder raises several types for bad bytes
        raise CorruptDumpError(f"{what} is not valid BSON ({exc})") from None


def check(raw: bytes, what: str) -> None:
    """Raise a CorruptDumpError unless `raw` is one valid BSON document."""
    decode(raw, what)


def split_documents(data: bytes | memoryview) -> list[memoryview]:
    """Split back-to-back BSON documents (a raw batch from the driver) into views."""
    view = memoryview(data)
    out = []
    offset = 0
    while offset < len(view):
        (length,) = _LENGTH.unpack_from(view, offset)
        out.append(view[offset : offset + length])
        offset += length
    return out
