"""Readers of dumps written from their specifications alone, to check what the seed package
writes: the mongodump archive format, and gzip members."""

import io
import re
import struct
import zlib

import bson
from bson.int64 import Int64

MAGIC = bytes([0x6D, 0xE2, 0x99, 0x81])
TERM = b"\xff\xff\xff\xff"


def reference_crc(data: bytes) -> int:
    """CRC-64/XZ bit by bit, independent of seed.crc64."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    crc ^= 0xFFFFFFFFFFFFFFFF
    return crc - 2**64 if crc >= 2**63 else crc


def parse_strictly(data: bytes) -> dict:
    """A small reader written from the spec alone; asserts every structural rule."""
    stream = io.BytesIO(data)

    def doc_or_term() -> bytes | None:
        head = stream.read(4)
        assert len(head) == 4, "truncated"
        if head == TERM:
            return None
        (length,) = struct.unpack("<i", head)
        body = stream.read(length - 4)
        assert len(body) == length - 4, "truncated"
        return head + body

    assert stream.read(4) == MAGIC
    header = bson.decode(doc_or_term())
    assert header["version"] == "0.1"
    assert re.fullmatch(r"\d+\.\d+\.\d+", header["server_version"])  # mongorestore parses it
    assert set(header) == {"concurrent_collections", "version", "server_version", "tool_version"}
    assert isinstance(header["concurrent_collections"], int)
    prelude = []
    while (raw := doc_or_term()) is not None:
        meta = bson.decode(raw)
        assert set(meta) == {"db", "collection", "metadata", "size", "type"}
        prelude.append(meta)
    data_by_ns: dict[str, bytes] = {}
    docs_by_ns: dict[str, list[dict]] = {}
    eofs: dict[str, int] = {}
    segments = 0
    while stream.tell() < len(data):
        header_raw = doc_or_term()
        assert header_raw is not None, "a terminator where a namespace header belongs"
        ns_header = bson.decode(header_raw)
        ns = f"{ns_header['db']}.{ns_header['collection']}"
        assert ns not in eofs, f"{ns} after its EOF"
        assert isinstance(ns_header["CRC"], Int64)
        if ns_header["EOF"]:
            assert doc_or_term() is None
            eofs[ns] = ns_header["CRC"]
            continue
        assert ns_header["CRC"] == 0
        segments += 1
        count = 0
        while (raw := doc_or_term()) is not None:
            data_by_ns[ns] = data_by_ns.get(ns, b"") + raw
            docs_by_ns.setdefault(ns, []).append(bson.decode(raw))
            count += 1
        assert count >= 1, "empty segment"
    assert sorted(eofs) == sorted(f"{m['db']}.{m['collection']}" for m in prelude)
    for ns, crc in eofs.items():
        assert crc == reference_crc(data_by_ns.get(ns, b"")), f"CRC of {ns}"
    return {"header": header, "prelude": prelude, "docs": docs_by_ns, "segments": segments}


def members(data: bytes) -> int:
    """How many gzip members `data` holds, one after another."""
    count, rest = 0, data
    while rest:
        unpacker = zlib.decompressobj(31)
        unpacker.decompress(rest)
        rest = unpacker.unused_data
        count += 1
    return count
