"""A JSON array written as its items arrive, byte for byte what Starlette's JSONResponse
would have sent for the whole list, so that a long list needs neither the memory nor the
wait of building it first."""

import functools
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

# Starlette's JSONResponse.render, item by item: a list's items are joined by "," there too.
dumps = functools.partial(
    json.dumps, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
)


async def json_array(batches: AsyncIterable[Iterable[Any]]) -> AsyncIterator[bytes]:
    """`[`, the items of every batch (one write a batch), `]`."""
    yield b"["
    separator = ""
    async for batch in batches:
        text = ",".join(dumps(item) for item in batch)
        if text:
            yield (separator + text).encode("utf-8")
            separator = ","
    yield b"]"


def json_array_response(batches: AsyncIterable[Iterable[Any]]) -> StreamingResponse:
    """The array as an `application/json` answer, sent chunk by chunk."""
    return StreamingResponse(json_array(batches), media_type="application/json")
