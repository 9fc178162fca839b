"""The archive format: reading hand-built archives, and writing what mongorestore accepts."""

import gzip
import io
import struct
from pathlib import Path

import bson
import pytest
from archives import MAGIC, TERM, parse_strictly, reference_crc
from bson.int64 import Int64
from flrepo.seed.archive import DEFAULT_SERVER_VERSION, ArchiveWriter, open_archive
from flrepo.seed.errors import CorruptDumpError
from flrepo.seed.events import BATCH_DOCUMENTS, CollectionEnd, Documents
from flrepo.seed.metadata import CollectionInfo, metadata_json

META = (
    '{"options":{},"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},'
    '"name":"_id_"},{"v":{"$numberInt":"2"},"key":{"model_name":{"$numberInt":"1"},'
    '"model_version":{"$numberInt":"1"}},"name":"model_name_1_model_version_1","unique":true}],'
    '"collectionName":"models","type":"collection"}'
)


def hand_built(blocks: list[tuple[str, str, list[dict] | None]], prelude: list[tuple[str, str]]):
    """An archive by the spec: `blocks` are (db, coll, docs) segments or (db, coll, None) ends."""
    out = bytearray(MAGIC)
    header = {"concurrent_collections": 4, "version": "0.1", "server_version": "7.0.2"}
    out += bson.encode({**header, "tool_version": "100.9.0"})
    for db, coll in prelude:
        metadata = META if coll == "models" else ""
        out += bson.encode(
            {"db": db, "collection": coll, "metadata": metadata, "size": 10, "type": "collection"}
        )
    out += TERM
    written: dict[str, bytes] = {}
    for db, coll, docs in blocks:
        ns = f"{db}.{coll}"
        if docs is None:
            crc = reference_crc(written.get(ns, b""))
            out += bson.encode({"db": db, "collection": coll, "EOF": True, "CRC": Int64(crc)})
            out += TERM
            continue
        out += bson.encode({"db": db, "collection": coll, "EOF": False, "CRC": Int64(0)})
        for doc in docs:
            raw = bson.encode(doc)
            written[ns] = written.get(ns, b"") + raw
            out += raw
        out += TERM
    return bytes(out)


def read_all(path: Path) -> tuple[list[CollectionInfo], dict[str, list[dict]], list[CollectionEnd]]:
    reader = open_archive(path)
    docs: dict[str, list[dict]] = {}
    ends = []
    try:
        for event in reader.events():
            if isinstance(event, Documents):
                assert event.nbytes == sum(len(d) for d in event.documents)
                docs.setdefault(event.namespace, []).extend(bson.decode(d) for d in event.documents)
            else:
                ends.append(event)
    finally:
        reader.close()
    return reader.collections, docs, ends


MODELS = [{"_id": i, "model_name": f"m{i}", "model_version": "1"} for i in range(5)]
CHUNKS = [{"_id": 100 + n, "files_id": 1, "n": n, "data": bytes([n]) * 300} for n in range(4)]
PRELUDE = [
    ("repository", "models"),
    ("repository", "strategies"),
    ("repository_grid", "fs.chunks"),
]
INTERLEAVED = [
    ("repository", "models", MODELS[:2]),
    ("repository_grid", "fs.chunks", CHUNKS[:1]),
    ("repository", "models", MODELS[2:]),
    ("repository", "strategies", None),  # empty collection: only its end marker
    ("repository_grid", "fs.chunks", CHUNKS[1:]),
    ("repository", "models", None),
    ("repository_grid", "fs.chunks", None),
]


def test_reads_interleaved_segments_and_an_empty_collection(tmp_path):
    path = tmp_path / "db.dump"
    path.write_bytes(hand_built(INTERLEAVED, PRELUDE))
    collections, docs, ends = read_all(path)
    assert [c.namespace for c in collections] == [f"{d}.{c}" for d, c in PRELUDE]
    assert collections[0].indexes() == [
        {
            "key": {"model_name": 1, "model_version": 1},
            "name": "model_name_1_model_version_1",
            "unique": True,
        }
    ]
    assert docs == {"repository.models": MODELS, "repository_grid.fs.chunks": CHUNKS}
    assert [(e.namespace, e.documents, e.crc_checked) for e in ends] == [
        ("repository.strategies", 0, True),
        ("repository.models", 5, True),
        ("repository_grid.fs.chunks", 4, True),
    ]
    assert ends[1].nbytes == sum(len(bson.encode(m)) for m in MODELS)


def test_gzip_is_detected_from_the_bytes_not_the_name(tmp_path):
    path = tmp_path / "plain-name.dump"
    path.write_bytes(gzip.compress(hand_built(INTERLEAVED, PRELUDE)))
    _, docs, ends = read_all(path)
    assert docs["repository.models"] == MODELS
    assert len(ends) == 3


def test_large_collections_come_in_bounded_batches(tmp_path):
    many = [{"_id": i, "x": "y" * 10} for i in range(BATCH_DOCUMENTS * 2 + 5)]
    path = tmp_path / "big.dump"
    path.write_bytes(hand_built([("d", "c", many), ("d", "c", None)], [("d", "c")]))
    reader = open_archive(path)
    sizes = [len(e.documents) for e in reader.events() if isinstance(e, Documents)]
    reader.close()
    assert sizes == [BATCH_DOCUMENTS, BATCH_DOCUMENTS, 5]


# --- the writer, checked by an independent parser -------------------------------------------


def write_sample(stream) -> None:
    infos = [
        CollectionInfo(
            "repository",
            "models",
            metadata_json("models", [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]),
            99,
        ),
        CollectionInfo("repository", "results", metadata_json("results", []), 0),
        CollectionInfo("repository_grid", "fs.chunks", metadata_json("fs.chunks", []), 2**40),
    ]
    writer = ArchiveWriter(stream, infos, server_version="8.0.0")
    writer.write("repository", "models", [bson.encode(m) for m in MODELS[:3]])
    writer.write("repository_grid", "fs.chunks", [bson.encode(c) for c in CHUNKS[:2]])
    writer.write("repository", "models", [bson.encode(m) for m in MODELS[3:]])
    writer.end("repository", "models")
    writer.end("repository", "results")
    writer.write("repository_grid", "fs.chunks", [bson.encode(c) for c in CHUNKS[2:]])
    writer.write("repository_grid", "fs.chunks", [])
    writer.end("repository_grid", "fs.chunks")
    writer.finish()
    assert writer.documents == len(MODELS) + len(CHUNKS)


def test_writer_output_passes_an_independent_strict_parser():
    buffer = io.BytesIO()
    write_sample(buffer)
    parsed = parse_strictly(buffer.getvalue())
    assert parsed["docs"] == {
        "repository.models": MODELS,
        "repository_grid.fs.chunks": CHUNKS,
    }
    assert parsed["segments"] == 4
    sizes = {m["collection"]: m["size"] for m in parsed["prelude"]}
    assert sizes == {"models": 99, "results": 0, "fs.chunks": 2**40}
    metadata = parsed["prelude"][0]["metadata"]
    assert '"key":{"_id":{"$numberInt":"1"}}' in metadata  # canonical Extended JSON
    assert parsed["prelude"][0]["type"] == "collection"


def test_writer_sizes_use_int32_when_they_fit():
    buffer = io.BytesIO()
    write_sample(buffer)
    data = buffer.getvalue()
    first_meta_at = 4 + struct.unpack_from("<i", data, 4)[0]
    raw = data[first_meta_at : first_meta_at + struct.unpack_from("<i", data, first_meta_at)[0]]
    assert b"\x10size\x00" in raw  # 0x10 is BSON int32


def test_writer_then_reader_round_trip(tmp_path):
    path = tmp_path / "out.dump.gz"
    with gzip.open(path, "wb") as out:
        write_sample(out)
    _, docs, ends = read_all(path)
    assert docs["repository.models"] == MODELS
    assert docs["repository_grid.fs.chunks"] == CHUNKS
    assert {e.namespace: e.documents for e in ends} == {
        "repository.models": 5,
        "repository.results": 0,
        "repository_grid.fs.chunks": 4,
    }


def test_writer_puts_a_parsable_server_version_in_the_header():
    default = DEFAULT_SERVER_VERSION
    for given, written in (("7.0.12", "7.0.12"), ("", default), ("8.2", default)):
        buffer = io.BytesIO()
        ArchiveWriter(buffer, [], server_version=given).finish()
        assert parse_strictly(buffer.getvalue())["header"]["server_version"] == written


def test_writer_refuses_unknown_or_unfinished_collections():
    writer = ArchiveWriter(io.BytesIO(), [CollectionInfo("d", "c")])
    with pytest.raises(ValueError):
        writer.write("d", "other", [bson.encode({})])
    with pytest.raises(ValueError):
        writer.finish()
    writer.end("d", "c")
    with pytest.raises(ValueError):
        writer.end("d", "c")


# --- damaged archives -------------------------------------------------------------------------


def consume(path: Path) -> None:
    reader = open_archive(path)
    try:
        for _ in reader.events():
            pass
    finally:
        reader.close()


def corrupt(tmp_path: Path, data: bytes, name: str = "bad.dump") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorruptDumpError) as info:
        consume(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_magic(tmp_path):
    good = hand_built(INTERLEAVED, PRELUDE)
    assert "magic" in corrupt(tmp_path, b"\x00" + good[1:])
    assert "magic" in corrupt(tmp_path, b"")


def test_every_truncation_is_refused(tmp_path):
    good = hand_built(INTERLEAVED, PRELUDE)
    for cut in range(len(good)):
        message = corrupt(tmp_path, good[:cut])
        assert "truncated" in message or "magic" in message, (cut, message)


def test_crc_mismatch(tmp_path):
    good = hand_built(INTERLEAVED, PRELUDE)
    at = good.index(b"m3")
    bad = good[:at] + b"mX" + good[at + 2 :]  # still valid BSON, different bytes
    message = corrupt(tmp_path, bad)
    assert "CRC mismatch for repository.models" in message


def test_a_document_that_is_not_bson(tmp_path):
    good = hand_built(INTERLEAVED, PRELUDE)
    raw = bson.encode(MODELS[3])
    broken = raw[:4] + b"\x77" + raw[5:]  # unknown element type
    message = corrupt(tmp_path, good.replace(raw, broken))
    assert "document 4 of repository.models is not valid BSON" in message
    impossible = good.replace(raw, struct.pack("<i", 2**30) + raw[4:])
    assert "not BSON" in corrupt(tmp_path, impossible)


def test_named_gz_but_not_gzip(tmp_path):
    message = corrupt(tmp_path, b"PK\x03\x04 not an archive", name="db.dump.gz")
    assert "not gzip-compressed" in message


def test_truncated_gzip(tmp_path):
    data = gzip.compress(hand_built(INTERLEAVED, PRELUDE))
    assert "truncated" in corrupt(tmp_path, data[: len(data) // 2])


def test_damaged_gzip(tmp_path):
    data = bytearray(gzip.compress(hand_built(INTERLEAVED, PRELUDE)))
    data[20:40] = b"\x00" * 20
    message = corrupt(tmp_path, bytes(data))
    assert "gzip" in message or "CRC" in message or "BSON" in message


def test_segment_after_end_marker(tmp_path):
    blocks = [*INTERLEAVED, ("repository", "models", MODELS[:1])]
    assert "after its end marker" in corrupt(tmp_path, hand_built(blocks, PRELUDE))


def test_collection_without_end_marker(tmp_path):
    blocks = [b for b in INTERLEAVED if b != ("repository", "strategies", None)]
    message = corrupt(tmp_path, hand_built(blocks, PRELUDE))
    assert "repository.strategies" in message


def test_unreadable_metadata_is_refused_when_opening(tmp_path, monkeypatch):
    broken = META.replace('"name":"model_name_1_model_version_1"', '"nom":"x"')
    assert broken != META
    monkeypatch.setitem(globals(), "META", broken)
    path = tmp_path / "meta.dump"
    path.write_bytes(hand_built(INTERLEAVED, PRELUDE))
    with pytest.raises(CorruptDumpError, match="invalid index entry"):
        open_archive(path)
    monkeypatch.setitem(globals(), "META", "{not json")
    path.write_bytes(hand_built(INTERLEAVED, PRELUDE))
    with pytest.raises(CorruptDumpError, match="not Extended JSON"):
        open_archive(path)
