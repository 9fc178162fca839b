"""Collection options, views, --oplog dumps, a consistent GridFS dump, the header's version."""

import io
from collections.abc import Iterator
from pathlib import Path

import bson
import pytest
from bson.int64 import Int64
from flrepo.seed.archive import DEFAULT_SERVER_VERSION, ArchiveWriter, open_archive
from flrepo.seed.dump import dump
from flrepo.seed.errors import SeedError
from flrepo.seed.events import Documents
from flrepo.seed.metadata import CollectionInfo, metadata_json
from flrepo.seed.restore import restore
from gridfs import AsyncGridFSBucket
from helpers import in_memory_database
from pymongo import AsyncMongoClient
from pymongo.errors import WriteError
from seed_data import counts, populate, raw_snapshot
from seed_extras import add_extras, definitions, expected_extras

from flrepo.cli.main import main


async def test_options_and_views_survive_dump_and_restore(
    mongo,
    settings,
    target,
    mongodb_url,
    tmp_path,
):
    await populate(mongo, settings)
    await add_extras(mongo, settings)
    path = tmp_path / "db.dump"
    dumped = await dump(settings.databases, mongodb_url, path)
    assert dumped.views == ["repository.base_models"]
    assert dumped.snapshot  # SecantusDB runs as a replica set: one snapshot

    report = await restore(target.databases, mongodb_url, path)
    got = await definitions(mongo, target.db_name)
    for name, definition in expected_extras().items():
        assert got[name] == definition, name
    assert report.views == {f"{target.db_name}.base_models": f"{target.db_name}.models"}
    assert any("base_models: view on" in line for line in report.summary())
    assert await raw_snapshot(mongodb_url, target) == await raw_snapshot(mongodb_url, settings)
    db = mongo[target.db_name]
    assert [m["model_name"] async for m in db.base_models.find()] == ["base"]
    assert [d["event"] async for d in db.audit.find()] == [3, 4, 5, 6, 7]
    with pytest.raises(WriteError):  # the validator is in force again
        await db.checked.insert_one({"other": 1})


async def test_drop_recreates_a_collection_with_other_options(
    mongo,
    settings,
    target,
    mongodb_url,
    tmp_path,
):
    await add_extras(mongo, settings)
    path = tmp_path / "db.dump"
    await dump(settings.databases, mongodb_url, path)
    await mongo[target.db_name].create_collection("audit")  # not capped
    await mongo[target.db_name].create_collection("base_models")  # a collection, not the view
    kept = await restore(target.databases, mongodb_url, path)
    assert any("audit exists with other options" in p for p in kept.index_problems)
    assert any("base_models exists and is not the dump's view" in p for p in kept.index_problems)
    got = await definitions(mongo, target.db_name)
    assert got["audit"] == ("collection", {})
    assert got["base_models"] == ("collection", {})

    await restore(target.databases, mongodb_url, path, drop=True)
    got = await definitions(mongo, target.db_name)
    assert got["audit"] == expected_extras()["audit"]
    assert got["base_models"] == expected_extras()["base_models"]


async def test_documents_the_validator_would_refuse_are_restored_as_dumped(
    mongo,
    target,
    mongodb_url,
    tmp_path,
):
    checked = {"validator": {"$jsonSchema": {"required": ["name"]}}}
    info = CollectionInfo("repository", "checked", metadata_json("checked", [], checked))
    path = tmp_path / "db.dump"
    with path.open("wb") as out:
        writer = ArchiveWriter(out, [info])
        writer.write("repository", "checked", [bson.encode({"_id": 1, "older": True})])
        writer.end("repository", "checked")
        writer.finish()
    await restore(target.databases, mongodb_url, path)
    assert await mongo[target.db_name].checked.find_one({"_id": 1}) == {"_id": 1, "older": True}


def oplog_archive(path: Path) -> None:
    """An archive as `mongodump --oplog` writes it: the oplog under the namespace `.oplog`."""
    infos = [
        CollectionInfo("repository", "models", metadata_json("models", [])),
        CollectionInfo("", "oplog"),
    ]
    entry = {"op": "i", "ns": "repository.models", "o": {"_id": 2, "model_name": "late"}}
    with path.open("wb") as out:
        writer = ArchiveWriter(out, infos)
        writer.write("repository", "models", [bson.encode({"_id": 1, "model_name": "m"})])
        writer.end("repository", "models")
        writer.write("", "oplog", [bson.encode({"ts": Int64(1), **entry})])
        writer.end("", "oplog")
        writer.finish()


async def test_an_oplog_dump_is_refused_before_anything_is_written(
    mongo,
    target,
    mongodb_url,
    tmp_path,
):
    path = tmp_path / "oplog.dump"
    oplog_archive(path)
    with pytest.raises(SeedError, match=r"holds an oplog \(mongodump --oplog\)"):
        await restore(target.databases, mongodb_url, path)
    assert await counts(mongo, target) == {}
    assert await mongo[target.db_name].list_collection_names() == []


def test_an_oplog_directory_dump_is_refused_by_the_cli(names, tmp_path, capsys):
    root = tmp_path / "dump" / "repository"
    root.mkdir(parents=True)
    (root / "models.bson").write_bytes(bson.encode({"_id": 1}))
    (tmp_path / "dump" / "oplog.bson").write_bytes(bson.encode({"op": "n", "o": {}}))
    assert main(["seed", "restore", str(tmp_path / "dump")]) == 1
    err = capsys.readouterr().err
    assert "holds an oplog" in err
    assert "nothing was written" in err


async def test_a_file_without_all_its_chunks_is_left_out_of_a_dump(
    mongo,
    settings,
    mongodb_url,
    tmp_path,
):
    grid = mongo[settings.grid_db_name]
    bucket = AsyncGridFSBucket(grid, chunk_size_bytes=4)
    whole = await bucket.upload_from_stream("whole", io.BytesIO(b"0123456789"))
    broken = await bucket.upload_from_stream("broken", io.BytesIO(b"abcdefghij"))
    await grid["fs.chunks"].delete_one({"files_id": broken, "n": 1})  # as a delete in progress
    await grid["fs.chunks"].insert_one({"files_id": bson.ObjectId(), "n": 0, "data": b"x"})
    path = tmp_path / "db.dump"
    report = await dump(settings.databases, mongodb_url, path)
    assert (report.incomplete_files, report.stray_chunks) == (1, 1)
    assert any("left out 1 file whose chunks" in line for line in report.summary())
    reader = open_archive(path)
    docs: dict[str, list[dict]] = {}
    for event in reader.events():
        if isinstance(event, Documents):
            docs.setdefault(event.namespace, []).extend(bson.decode(r) for r in event.documents)
    reader.close()
    assert [f["_id"] for f in docs["repository_grid.fs.files"]] == [whole]
    chunk_files = {c["files_id"] for c in docs["repository_grid.fs.chunks"]}
    assert chunk_files == {whole, broken}  # the broken file's chunks are harmless orphans


def test_header_names_the_database_version_or_the_one_asked_for(names, tmp_path, capsys):
    path = tmp_path / "db.dump"
    assert main(["seed", "dump", str(path)]) == 0
    server = open_archive(path).header["server_version"]
    assert server.split(".")[:2] == DEFAULT_SERVER_VERSION.split(".")[:2]  # SecantusDB: 8.2
    assert "server version " + server in capsys.readouterr().out
    assert main(["seed", "dump", str(path), "--server-version", "7.0.12"]) == 0
    assert open_archive(path).header["server_version"] == "7.0.12"
    with pytest.raises(SystemExit):
        main(["seed", "dump", str(path), "--server-version", "8.0"])
    assert "not a version like" in capsys.readouterr().err


@pytest.fixture(scope="module")
def standalone_url() -> Iterator[str]:
    """A SecantusDB that presents itself as a standalone server: no snapshot reads."""
    with in_memory_database("--standalone") as url:
        yield url


async def test_without_snapshot_reads_files_come_before_chunks(standalone_url, settings, tmp_path):
    mongo: AsyncMongoClient = AsyncMongoClient(standalone_url)
    try:
        files = await populate(mongo, settings)
        await mongo[settings.grid_db_name]["fs.chunks"].delete_many(
            {
                "files_id": (
                    await mongo[settings.grid_db_name]["fs.files"].find_one(
                        {"filename": "model/base/1"}
                    )
                )["_id"],
                "n": 2,
            }
        )
        path = tmp_path / "db.dump"
        report = await dump(settings.databases, standalone_url, path)
        assert not report.snapshot
        assert "files before chunks" in report.summary()[0]
        assert report.incomplete_files == 1
        reader = open_archive(path)
        names = [
            bson.decode(raw)["filename"]
            for event in reader.events()
            if isinstance(event, Documents) and event.collection == "fs.files"
            for raw in event.documents
        ]
        reader.close()
        assert sorted(names) == sorted(set(files) - {"model/base/1"})
    finally:
        await mongo.drop_database(settings.db_name)
        await mongo.drop_database(settings.grid_db_name)
        await mongo.close()
