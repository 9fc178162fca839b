"""A multipart form of one small JSON field followed by files, each streamed in its turn."""

from typing import Any

from flrepo.documents.errors import InvalidInput
from flrepo.transfer.jsonbody import JSONBodyError, loads
from flrepo.transfer.multipart import MultipartReader, StreamedUpload
from starlette.requests import Request

MAX_JSON_BYTES = 4 << 20  # the JSON field: a round of 10,000 participants fits


class JsonAndFiles:
    """The JSON object in form field `field` (read first), then files in the order sent."""

    def __init__(self, reader: MultipartReader, fields: dict[str, Any]) -> None:
        self.reader = reader
        self.fields = fields

    @classmethod
    async def read(cls, request: Request, field: str) -> "JsonAndFiles":
        """The form of `request`, read up to the end of its JSON field (InvalidInput if bad)."""
        declared = request.headers.get("content-length", "")
        reader = MultipartReader(
            request.stream(),
            request.headers.get("content-type", ""),
            int(declared) if declared.isdigit() else None,
        )
        await reader.open(field)
        try:
            fields = loads(await reader.read_field(MAX_JSON_BYTES))
        except JSONBodyError as exc:
            raise InvalidInput(f"form field {field!r}: {exc}") from None
        if not isinstance(fields, dict):
            raise InvalidInput(f"form field {field!r} must be a JSON object")
        return cls(reader, fields)

    def file(self, name: str) -> StreamedUpload:
        """The file in field `name`, read when its consumer asks for it."""
        return StreamedUpload(self.reader, name)

    async def next_file(self, name: str) -> StreamedUpload | None:
        """The file in field `name` if it is the next part, None at the end of the form;
        InvalidInput for a part of another name."""
        part = await self.reader.next_part()
        if part is None:
            return None
        if part.name != name:
            raise InvalidInput(f"unexpected form field {part.name!r}; expected {name!r} or none")
        source = StreamedUpload(self.reader, name)
        source.part = part
        return source
