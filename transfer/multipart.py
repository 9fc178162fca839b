"""A multipart/form-data body read part by part as it arrives, so files flow straight through."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from flrepo.documents.errors import InvalidInput
from flrepo.signing.bundles import MAX_BUNDLE_BYTES
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

# What may follow a file's bytes in its body: the closing boundary, perhaps a small field.
TRAILER_ALLOWANCE = 64 * 1024


class MultipartError(InvalidInput):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None


class MultipartReader:
    """Pulls parts off a request body stream; only the current part's bytes are ever held."""

    def __init__(
        self, stream: AsyncIterator[bytes], content_type: str, content_length: int | None = None
    ) -> None:
        media_type, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise MultipartError("expected a multipart/form-data body with a boundary")
        self._stream = stream
        self.content_length = content_length  # as declared, if it was
        self.received = 0
        self._events: deque[tuple[str, object]] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._in_part = False
        self._ended = False
        self._seen: set[str] = set()
        self._keep: dict[str, int] = {}  # small fields kept when skipped, with their limits
        self._kept: dict[str, bytes] = {}
        self.lock = asyncio.Lock()
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": lambda: self._events.append(("headers", self._headers)),
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("part_end", None)),
                "on_end": lambda: self._events.append(("end", None)),
            },
        )

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    async def _next_event(self) -> tuple[str, object]:
        while not self._events:
            if self._ended:
                return ("end", None)
            try:
                chunk = await anext(self._stream, None)
            except ClientDisconnect:
                raise MultipartError("the client disconnected mid-body") from None
            if chunk is None:
                raise MultipartError("the multipart body ended before its closing boundary")
            self.received += len(chunk)
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise MultipartError(f"malformed multipart body: {exc}") from None
        kind, value = self._events.popleft()
        if kind == "end":
            self._ended = True
        return kind, value

    async def next_part(self) -> Part | None:
        """Skip what is left of the current part; return the next one, or None at the end."""
        while self._in_part:
            await self.read()
        while True:
            kind, value = await self._next_event()
            if kind == "end":
                return None
            if kind == "headers":
                self._in_part = True
                return _part(value)  # type: ignore[arg-type]

    async def read(self) -> bytes | None:
        """The next bytes of the current part, or None when it is over."""
        while self._in_part:
            kind, value = await self._next_event()
            if kind == "data":
                if value:
                    return value  # type: ignore[return-value]
            elif kind in ("part_end", "end"):
                self._in_part = False
        return None

    async def read_field(self, limit: int = 1 << 20) -> bytes:
        """The whole current part, for small form fields."""
        data = bytearray()
        while (chunk := await self.read()) is not None:
            data += chunk
            if len(data) > limit:
                raise MultipartError(f"a form field exceeds {limit} bytes")
        return bytes(data)

    async def open(self, name: str) -> Part:
        """Move on to the part called `name`; parts before it are skipped."""
        part = await self._find(name)
        if part is None:
            raise InvalidInput(f"form field {name!r} is missing from the request")
        return part

    async def _find(self, name: str) -> Part | None:
        """The part called `name`, or None if the body ends first; parts before it are
        skipped, but those `keep` names are read and kept."""
        if name in self._seen:
            raise InvalidInput(
                f"the file in form field {name!r} was already read or skipped; "
                "send files in the order the operation uses them, each once"
            )
        while (part := await self.next_part()) is not None:
            self._seen.add(part.name)
            if part.name == name:
                return part
            if part.name in self._keep and part.name not in self._kept:
                self._kept[part.name] = await self.read_field(self._keep[part.name])
        return None

    def keep(self, name: str, limit: int) -> None:
        """Keep the small field `name` (at most `limit` bytes) if it is skipped on the way to
        another part, so that it may come before or after a file in the body."""
        self._keep[name] = limit

    async def small_field(self, name: str, limit: int) -> bytes | None:
        """The whole small field `name`, kept or read now; None if the body has none."""
        if name in self._kept:
            return self._kept[name]
        part = await self._find(name)
        return None if part is None else await self.read_field(limit)


def _part(headers: dict[bytes, bytes]) -> Part:
    disposition, options = parse_options_header(headers.get(b"content-disposition", b""))
    if disposition != b"form-data" or b"name" not in options:
        raise MultipartError("a part lacks Content-Disposition: form-data with a name")
    filename = options.get(b"filename")
    content_type = headers.get(b"content-type")
    return Part(
        name=options[b"name"].decode("utf-8", "replace"),
        filename=filename.decode("utf-8", "replace") if filename is not None else None,
        content_type=content_type.decode("latin-1") if content_type else None,
    )


class StreamedUpload:
    """One file of a multipart request, read from the body when its consumer asks for it."""

    def __init__(self, reader: MultipartReader, field: str, sole: bool = False) -> None:
        self.reader = reader
        self.field = field
        self.sole = sole  # the request's only file: what follows its headers is mostly it
        self.part: Part | None = None
        self.min_length = 0
        self.consumed = False

    @property
    def filename(self) -> str | None:
        return self.part.filename if self.part else None

    @property
    def content_type(self) -> str | None:
        return self.part.content_type if self.part else None

    async def open(self) -> Part:
        """Find this file's part in the body (done by `chunks` when not done before)."""
        if self.part is None:
            self.part = await self.reader.open(self.field)
            if self.sole and self.reader.content_length is not None:
                unread = self.reader.content_length - self.reader.received
                self.min_length = max(0, unread - TRAILER_ALLOWANCE)
        return self.part

    async def chunks(self) -> AsyncIterator[bytes]:
        async with self.reader.lock:
            if self.consumed:  # its bytes are gone: a second read would yield an empty file
                raise InvalidInput(
                    f"the file in form field {self.field!r} was already read; "
                    "an operation can use each file once"
                )
            self.consumed = True
            await self.open()
            while (chunk := await self.reader.read()) is not None:
                yield chunk


class SignedUpload:
    """A file of a multipart request and the field holding its signature bundle, which may
    come before the file (kept when the file is looked for) or after it (read once the file
    is): `FileStore.put` asks for the bundle once the file's bytes are stored."""

    def __init__(self, file: StreamedUpload, field: str) -> None:
        self.file = file
        self.field = field
        file.reader.keep(field, MAX_BUNDLE_BYTES)

    @property
    def filename(self) -> str | None:
        return self.file.filename

    @property
    def content_type(self) -> str | None:
        return self.file.content_type

    @property
    def min_length(self) -> int:
        return self.file.min_length

    def chunks(self) -> AsyncIterator[bytes]:
        return self.file.chunks()

    async def signature(self) -> bytes | None:
        """The bundle, or None if the body holds no field of its name."""
        async with self.file.reader.lock:
            return await self.file.reader.small_field(self.field, MAX_BUNDLE_BYTES)
