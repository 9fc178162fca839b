"""The directory layout: dump/<db>/<collection>.bson and .metadata.json, plain or gzip."""

import gzip
from pathlib import Path

import bson
import pytest
from flrepo.seed.directory import DirectoryReader
from flrepo.seed.errors import CorruptDumpError
from flrepo.seed.events import CollectionEnd, Documents
from flrepo.seed.metadata import metadata_json
from flrepo.seed.source import open_dump

MODELS = [{"_id": i, "model_name": f"m{i}", "model_version": "1"} for i in range(3)]
FILES = [{"_id": 7, "filename": "model/m0/1", "length": 3}]
UNIQUE = {"v": 2, "key": {"model_name": 1, "model_version": 1}, "name": "mm", "unique": True}


def bson_file(docs: list[dict]) -> bytes:
    return b"".join(bson.encode(d) for d in docs)


def make_dump(root: Path) -> Path:
    """repository/ plain, repository_grid/ gzip, an empty collection, a view, an oplog."""
    repo = root / "dump" / "repository"
    grid = root / "dump" / "repository_grid"
    repo.mkdir(parents=True)
    grid.mkdir()
    (repo / "models.bson").write_bytes(bson_file(MODELS))
    (repo / "models.metadata.json").write_text(metadata_json("models", [UNIQUE]))
    (repo / "strategies.bson").write_bytes(b"")
    (repo / "strategies.metadata.json").write_text(metadata_json("strategies", []))
    (repo / "results.metadata.json").write_text(metadata_json("results", []))  # no .bson at all
    view = '{"options":{"viewOn":"models","pipeline":[]},"indexes":[],"type":"view"}'
    (repo / "recent.metadata.json").write_text(view)
    (grid / "fs.files.bson.gz").write_bytes(gzip.compress(bson_file(FILES)))
    (grid / "fs.files.metadata.json.gz").write_bytes(
        gzip.compress(metadata_json("fs.files", []).encode())
    )
    (root / "dump" / "prelude.json").write_text("{}")
    (root / "dump" / "oplog.bson").write_bytes(b"")
    return root / "dump"


def read(reader) -> tuple[dict[str, list[dict]], dict[str, CollectionEnd]]:
    docs: dict[str, list[dict]] = {}
    ends = {}
    for event in reader.events():
        if isinstance(event, Documents):
            docs.setdefault(event.namespace, []).extend(bson.decode(d) for d in event.documents)
        else:
            ends[event.namespace] = event
    return docs, ends


def test_reads_plain_and_gzip_collections(tmp_path):
    reader = open_dump(make_dump(tmp_path))
    assert isinstance(reader, DirectoryReader)
    namespaces = [c.namespace for c in reader.collections]
    assert namespaces == [
        "repository.models",
        "repository.recent",
        "repository.results",
        "repository.strategies",
        "repository_grid.fs.files",
        ".oplog",  # mongodump --oplog --out puts oplog.bson beside the databases
    ]
    assert [c.type for c in reader.collections].count("view") == 1
    assert reader.collections[1].type == "view"
    assert reader.collections[0].indexes() == [
        {"key": {"model_name": 1, "model_version": 1}, "name": "mm", "unique": True}
    ]
    docs, ends = read(reader)
    assert docs == {"repository.models": MODELS, "repository_grid.fs.files": FILES}
    assert {ns: e.documents for ns, e in ends.items()} == {
        "repository.models": 3,
        "repository.recent": 0,
        "repository.results": 0,
        "repository.strategies": 0,
        "repository_grid.fs.files": 1,
        ".oplog": 0,
    }
    assert not any(e.crc_checked for e in ends.values())
    assert reader.bytes_read() == reader.total_bytes


def test_a_single_database_folder(tmp_path):
    folder = make_dump(tmp_path) / "repository"
    reader = open_dump(folder)
    assert {c.db for c in reader.collections} == {"repository"}
    docs, _ = read(reader)
    assert docs["repository.models"] == MODELS


def test_escaped_collection_names(tmp_path):
    folder = tmp_path / "repository"
    folder.mkdir()
    (folder / "a%2Fb.bson").write_bytes(bson_file(MODELS[:1]))
    reader = open_dump(tmp_path)
    assert [c.collection for c in reader.collections] == ["a/b"]


def corrupt(root: Path) -> str:
    with pytest.raises(CorruptDumpError) as info:
        read(open_dump(root))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_truncated_bson_file(tmp_path):
    dump = make_dump(tmp_path)
    data = bson_file(MODELS)
    (dump / "repository" / "models.bson").write_bytes(data[:-3])
    assert "truncated" in corrupt(dump)


def test_named_gz_but_not_gzip(tmp_path):
    dump = make_dump(tmp_path)
    (dump / "repository_grid" / "fs.files.bson.gz").write_bytes(bson_file(FILES))
    assert "fs.files.bson.gz is named .gz but is not gzip-compressed" in corrupt(dump)


def test_document_that_is_not_bson(tmp_path):
    dump = make_dump(tmp_path)
    raw = bytearray(bson_file(MODELS))
    raw[4] = 0x77
    (dump / "repository" / "models.bson").write_bytes(bytes(raw))
    assert "document 1 of repository.models (models.bson) is not valid BSON" in corrupt(dump)


def test_metadata_that_is_not_json(tmp_path):
    dump = make_dump(tmp_path)
    (dump / "repository" / "models.metadata.json").write_text("{not json")
    with pytest.raises(CorruptDumpError, match=r"metadata of repository\.models"):
        open_dump(dump)


def test_folder_without_a_dump(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorruptDumpError, match=r"holds no \.bson"):
        open_dump(tmp_path / "empty")
