"""server/multipart.py: parts read as the body arrives, however it is cut into chunks."""

import os
import random
from collections.abc import AsyncIterator, Iterable

import pytest
from flrepo.documents.errors import InvalidInput
from flrepo.transfer.multipart import MultipartError, MultipartReader, Part, StreamedUpload
from helpers import FilePart, multipart_chunks

BOUNDARY = "----flrepo-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
OPERATIONS = {"query": "mutation($file: Upload!) { f(file: $file) }", "variables": {"file": None}}

# file data that contains near-misses of the boundary, which must not end the part
TRICKY = (
    os.urandom(5000)
    + f"\r\n--{BOUNDARY[:-1]}".encode()
    + b"\r\n--"
    + os.urandom(3000)
    + f"--{BOUNDARY}".encode()  # not preceded by CRLF: still data
    + os.urandom(70_000)
)


def body(files: list[FilePart], *, close: bool = True, extra: bytes = b"") -> bytes:
    files_map = {part.field: [f"variables.{part.field}"] for part in files}
    chunks = multipart_chunks(OPERATIONS, files_map, files, BOUNDARY, close=close)
    return b"".join(chunks) + extra


def cut(data: bytes, sizes: Iterable[int]) -> list[bytes]:
    """`data` in consecutive pieces of the given sizes (the last size repeats)."""
    pieces, pos, size = [], 0, 1
    sizes = iter(sizes)
    while pos < len(data):
        size = next(sizes, size)
        pieces.append(data[pos : pos + size])
        pos += size
    return pieces


async def stream(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def random_sizes(seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice([1, 2, 3, 5, 17, 100, 4096, 65_536]) for _ in range(10_000)]


CUTS = {
    "whole": [1 << 30],
    "1-byte": [1],
    "2-byte": [2],
    "7-byte": [7],
    "odd-then-large": [3, 1, 4, 1, 5, 9, 2, 6, 65_536],
    "random-1": random_sizes(1),
    "random-2": random_sizes(2),
}


async def read_part(reader: MultipartReader) -> bytes:
    data = bytearray()
    while (chunk := await reader.read()) is not None:
        assert chunk  # never an empty chunk
        data += chunk
    return bytes(data)


@pytest.mark.parametrize("sizes", CUTS.values(), ids=CUTS.keys())
async def test_parts_survive_any_chunking(sizes):
    data = body(
        [
            FilePart("0", "model.zip", "application/zip", [TRICKY]),
            FilePart("1", "empty.bin", "application/octet-stream", []),
            FilePart("2", "ünï code.txt", "text/plain", [b"last"]),
        ]
    )
    reader = MultipartReader(stream(cut(data, sizes)), CONTENT_TYPE)

    seen = []
    while (part := await reader.next_part()) is not None:
        seen.append((part, await read_part(reader)))
    assert [part for part, _ in seen] == [
        Part("operations", None, "application/json"),
        Part("map", None, "application/json"),
        Part("0", "model.zip", "application/zip"),
        Part("1", "empty.bin", "application/octet-stream"),
        Part("2", "ünï code.txt", "text/plain"),
    ]
    contents = [content for _, content in seen]
    assert contents[2] == TRICKY
    assert contents[3] == b""
    assert contents[4] == b"last"
    assert await reader.next_part() is None
    assert await reader.read() is None


@pytest.mark.parametrize("sizes", [[1], [3], [1 << 30]], ids=["1-byte", "3-byte", "whole"])
async def test_missing_closing_boundary_is_an_error(sizes):
    data = body([FilePart("0", "f", "application/octet-stream", [b"x" * 1000])], close=False)
    reader = MultipartReader(stream(cut(data, sizes)), CONTENT_TYPE)
    part = await reader.open("0")
    assert part.name == "0"
    with pytest.raises(MultipartError, match="ended before its closing boundary"):
        await read_part(reader)


async def test_body_ending_mid_file_is_an_error_after_the_bytes_that_came():
    data = body([FilePart("0", "f", "application/octet-stream", [TRICKY])])
    half = data[: data.index(TRICKY) + len(TRICKY) // 2]
    reader = MultipartReader(stream(cut(half, [4096])), CONTENT_TYPE)
    await reader.open("0")
    received = bytearray()
    with pytest.raises(MultipartError):
        while (chunk := await reader.read()) is not None:
            received += chunk
    assert 0 < len(received) <= len(TRICKY) // 2
    assert TRICKY.startswith(bytes(received))


async def test_body_ending_in_the_headers_is_an_error():
    data = body([FilePart("0", "f", "application/octet-stream", [b"abc"])])
    reader = MultipartReader(stream([data[: data.index(b'name="0"')]]), CONTENT_TYPE)
    with pytest.raises(MultipartError):
        await reader.open("0")


async def test_open_skips_unread_parts_and_refuses_them_later():
    data = body(
        [
            FilePart("a", "a", "application/octet-stream", [b"A" * 100_000]),
            FilePart("b", "b", "application/octet-stream", [b"B" * 10]),
            FilePart("c", "c", "application/octet-stream", [b"C" * 10]),
        ]
    )
    reader = MultipartReader(stream(cut(data, [1000])), CONTENT_TYPE)
    part = await reader.open("b")  # skips operations, map and all of "a"
    assert part == Part("b", "b", "application/octet-stream")
    assert await read_part(reader) == b"B" * 10

    with pytest.raises(InvalidInput, match="already read or skipped"):
        await reader.open("a")
    with pytest.raises(InvalidInput, match="already read or skipped"):
        await reader.open("b")
    assert (await reader.open("c")).name == "c"
    assert await read_part(reader) == b"C" * 10
    with pytest.raises(InvalidInput, match="missing"):
        await reader.open("d")


async def test_read_returns_what_has_arrived_without_waiting_for_more():
    data = body([FilePart("0", "f", "application/octet-stream", [b"0123456789" * 10])])
    reader = MultipartReader(stream(cut(data, [5])), CONTENT_TYPE)
    await reader.open("0")
    first = await reader.read()
    assert 0 < len(first) <= 5
    assert first + await read_part(reader) == b"0123456789" * 10


async def test_streamed_upload_reads_its_file_once():
    data = body(
        [
            FilePart("0", "weights.npy", "application/x-npy", [TRICKY]),
            FilePart("1", "second", "text/plain", [b"2"]),
            FilePart("2", "third", "text/csv", [b"3"]),
        ]
    )
    reader = MultipartReader(stream(cut(data, [333])), CONTENT_TYPE)
    first = StreamedUpload(reader, "0")
    assert first.filename is None  # known once the part is reached
    received = b"".join([chunk async for chunk in first.chunks()])
    assert received == TRICKY
    assert (first.filename, first.content_type) == ("weights.npy", "application/x-npy")

    with pytest.raises(InvalidInput, match="already read"):
        async for _ in first.chunks():  # not an empty file the second time
            pass
    with pytest.raises(InvalidInput, match="already read"):
        async for _ in StreamedUpload(reader, "0").chunks():
            pass

    # open() first (to learn the name and type), then the bytes
    second = StreamedUpload(reader, "1")
    assert await second.open() == Part("1", "second", "text/plain")
    assert second.filename == "second"
    assert b"".join([chunk async for chunk in second.chunks()]) == b"2"
    with pytest.raises(InvalidInput, match="already read"):
        async for _ in second.chunks():
            pass

    # a file never asked for is skipped by the next one asked for
    third = StreamedUpload(reader, "2")
    assert b"".join([chunk async for chunk in third.chunks()]) == b"3"


async def test_read_field_has_a_limit():
    data = body([FilePart("0", "f", "application/octet-stream", [b"x" * 5000])])
    reader = MultipartReader(stream([data]), CONTENT_TYPE)
    assert (await reader.next_part()).name == "operations"
    assert b'"query"' in await reader.read_field()
    await reader.open("0")
    with pytest.raises(MultipartError, match="exceeds 1000 bytes"):
        await reader.read_field(limit=1000)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data",
        "multipart/mixed; boundary=x",
        "",
    ],
)
def test_only_form_data_with_a_boundary_is_accepted(content_type):
    with pytest.raises(MultipartError, match="boundary"):
        MultipartReader(stream([]), content_type)


async def test_part_without_a_name_is_an_error():
    data = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--{BOUNDARY}--\r\n"
    ).encode()
    reader = MultipartReader(stream([data]), CONTENT_TYPE)
    with pytest.raises(MultipartError, match="name"):
        await reader.next_part()


async def test_garbage_instead_of_a_boundary_is_an_error():
    reader = MultipartReader(stream([b"this is not multipart at all\r\n" * 10]), CONTENT_TYPE)
    with pytest.raises(MultipartError):
        await reader.next_part()


async def test_empty_body_is_an_error():
    reader = MultipartReader(stream([]), CONTENT_TYPE)
    with pytest.raises(MultipartError, match="ended"):
        await reader.next_part()
