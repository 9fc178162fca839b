"""Dump and restore against a real server: round trip, skipping, dropping, unique keys, --seed."""

from pathlib import Path

import bson
import pytest
from archives import members, parse_strictly
from flrepo.documents.database import init_database
from flrepo.documents.files import FileStore, whole_number
from flrepo.documents.ml_model import MLModel
from flrepo.scanner.verdicts import Verdict
from flrepo.seed.archive import ArchiveWriter
from flrepo.seed.dump import dump
from flrepo.seed.errors import SeedError
from flrepo.seed.metadata import CollectionInfo, metadata_json
from flrepo.seed.restore import RestoreFailed, restore, restore_if_empty
from flrepo.seed.sample.build import build_sample, sample_documents
from gridfs import AsyncGridFSBucket
from seed_data import counts, populate, raw_snapshot


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.dump"
    build_sample(path)
    return path


SAMPLE_COUNTS = {
    f"{db}.{coll}".replace("repository_grid.", "grid.").replace("repository.", "db."): len(docs)
    for (db, coll), docs in sample_documents().items()
}


@pytest.mark.parametrize("compress", [False, True])
async def test_round_trip_is_identical_to_the_byte(
    compress, mongo, settings, target, mongodb_url, tmp_path
):
    files = await populate(mongo, settings)
    path = tmp_path / ("db.dump.gz" if compress else "db.dump")
    report = await dump(settings.databases, mongodb_url, path, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is compress
    if compress:
        assert members(path.read_bytes()) == 3  # 4 MiB blocks compressed on threads
    # 9 MB is 35 chunks, four small files one each, the empty file none
    assert report.namespaces["repository_grid.fs.chunks"] == 35 + 4
    assert report.documents == sum(report.namespaces.values())

    restored = await restore(target.databases, mongodb_url, path)
    assert restored.skipped == 0
    assert {r.target for r in restored.namespaces.values()} >= {
        f"{target.db_name}.models",
        f"{target.grid_db_name}.fs.chunks",
    }
    assert all(r.complete and r.crc_checked for r in restored.namespaces.values())

    before = await raw_snapshot(mongodb_url, settings)
    after = await raw_snapshot(mongodb_url, target)
    assert after == before
    # every restored file was scanned again, whatever label the dump carried
    assert restored.labels is not None and restored.labels.files == len(after["grid.fs.files"])
    async for doc in mongo[target.grid_db_name]["fs.files"].find():
        assert doc["safety"]["verdict"] in ("SAFE", "NOT_PICKLE", "SUSPICIOUS", "DANGEROUS")
    assert sum(len(v) for v in after.values()) == restored.documents

    bucket = AsyncGridFSBucket(mongo[target.grid_db_name])
    for name, data in files.items():
        stream = await bucket.open_download_stream_by_name(name)
        assert await stream.read() == data, name
    weights = await mongo[target.grid_db_name]["fs.files"].find_one(
        {"filename": "weights/base/1/conf-a"}
    )
    assert weights["training_id"] == "t1"


async def test_dump_is_what_mongorestore_reads(mongo, settings, mongodb_url, tmp_path):
    await populate(mongo, settings)
    path = tmp_path / "db.dump"
    await dump(settings.databases, mongodb_url, path)
    parsed = parse_strictly(path.read_bytes())
    names = sorted(f"{m['db']}.{m['collection']}" for m in parsed["prelude"])
    assert names == [
        "repository.alias_moves",  # empty, as are aliases, inferencers, rounds and runs
        "repository.aliases",
        "repository.file_revisions",  # empty, created with its indexes at startup
        "repository.inferencers",  # empty, created with its unique index at startup
        "repository.models",
        "repository.result_positions",  # the ranking rows: restored with their results
        "repository.results",
        "repository.rounds",
        "repository.runs",
        "repository.services",
        "repository.strategies",
        "repository.transformations",
        "repository_grid.fs.chunks",
        "repository_grid.fs.files",
    ]
    models_meta = next(m for m in parsed["prelude"] if m["collection"] == "models")
    assert '"unique":true' in models_meta["metadata"]
    assert '"model_name":{"$numberInt":"1"}' in models_meta["metadata"]
    assert models_meta["size"] > 0
    assert [d["model_name"] for d in parsed["docs"]["repository.models"]] == ["base", "base2"]


async def test_restore_builds_the_repository_layout_from_the_sample(
    mongo, target, mongodb_url, sample
):
    report = await restore(target.databases, mongodb_url, sample)
    assert await counts(mongo, target) == SAMPLE_COUNTS
    assert report.documents == sum(SAMPLE_COUNTS.values())
    db, grid = mongo[target.db_name], mongo[target.grid_db_name]
    model = await db.models.find_one({"model_name": "base2"})
    stored = await grid["fs.files"].find_one({"_id": bson.ObjectId(model["model_id"])})
    assert stored["filename"] == "model/base2/1"
    indexes = {i["name"]: i async for i in await db.models.list_indexes()}
    unique = [i for i in indexes.values() if i.get("unique")]
    assert [list(i["key"]) for i in unique] == [["model_name", "model_version"]]
    chunk_indexes = [i async for i in await grid["fs.chunks"].list_indexes()]
    assert any(list(i["key"]) == ["files_id", "n"] and i.get("unique") for i in chunk_indexes)


async def test_without_drop_existing_ids_are_skipped_and_counted(
    mongo, target, mongodb_url, sample
):
    await restore(target.databases, mongodb_url, sample)
    db = mongo[target.db_name]
    await db.models.delete_one({"model_name": "base2"})
    await db.strategies.update_one({}, {"$set": {"strategy_description": "changed here"}})

    report = await restore(target.databases, mongodb_url, sample)
    total = sum(SAMPLE_COUNTS.values())
    assert report.documents == 1
    assert report.skipped == total - 1
    models = next(r for r in report.namespaces.values() if r.target.endswith(".models"))
    assert (models.inserted, models.skipped) == (1, 1)
    assert await counts(mongo, target) == SAMPLE_COUNTS
    strategy = await db.strategies.find_one({})
    assert strategy["strategy_description"] == "changed here"  # kept, not overwritten
    assert any("skipped (their _id already existed)" in line for line in report.summary())


async def test_drop_empties_each_restored_collection_first(mongo, target, mongodb_url, sample):
    db = mongo[target.db_name]
    await db.models.insert_one({"model_name": "stale", "model_version": "9"})
    await db.strategies.insert_one({"strategy_name": "fault-tolerant-fedavg", "meta": {}})
    report = await restore(target.databases, mongodb_url, sample, drop=True)
    assert report.skipped == 0
    assert await db.models.find_one({"model_name": "stale"}) is None
    assert await counts(mongo, target) == SAMPLE_COUNTS


async def test_existing_duplicates_stop_the_restore_before_any_write(
    mongo, target, mongodb_url, sample
):
    db = mongo[target.db_name]
    await db.models.insert_many(
        [{"model_name": "dup", "model_version": "1"}, {"model_name": "dup", "model_version": "1"}]
    )
    with pytest.raises(RestoreFailed) as info:
        await restore(target.databases, mongodb_url, sample)
    assert info.value.report.written() == ["nothing was written"]
    message = str(info.value)
    assert "model_name+model_version" in message
    assert "model_name='dup', model_version='1' (2 documents)" in message
    assert await counts(mongo, target) == {"db.models": 2}


async def test_an_archive_document_taking_an_existing_key_stops_and_is_reported(
    mongo, target, mongodb_url, sample
):
    await restore(target.databases, mongodb_url, sample)
    db = mongo[target.db_name]
    await db.strategies.delete_many({})
    await db.strategies.insert_one({"strategy_name": "fault-tolerant-fedavg", "meta": {}})
    with pytest.raises(RestoreFailed) as info:
        await restore(target.databases, mongodb_url, sample)
    assert "fault-tolerant-fedavg" in str(info.value)
    assert "already holds" in str(info.value)
    written = info.value.report.written()
    assert f"{target.db_name}.models: 0 documents (complete, CRC verified)" in written
    assert await db.strategies.count_documents({}) == 1


async def test_other_namespaces_are_skipped_and_listed(mongo, target, mongodb_url, tmp_path):
    infos = [
        CollectionInfo("admin", "system.version", metadata_json("system.version", [])),
        CollectionInfo("repository", "models", metadata_json("models", [])),
        CollectionInfo("elsewhere", "things", metadata_json("things", [])),
    ]
    path = tmp_path / "mixed.dump"
    with path.open("wb") as out:
        writer = ArchiveWriter(out, infos)
        writer.write("admin", "system.version", [bson.encode({"_id": "featureCompatibility"})])
        model = {"model_name": "a", "model_version": "1"}
        writer.write("repository", "models", [bson.encode(model)])
        writer.write("elsewhere", "things", [bson.encode({"_id": i}) for i in range(3)])
        for info in infos:
            writer.end(info.db, info.collection)
        writer.finish()
    report = await restore(target.databases, mongodb_url, path)
    assert report.skipped_namespaces == {"admin.system.version": 1, "elsewhere.things": 3}
    assert report.documents == 1
    assert "skipped namespaces (not the repository's): admin.system.version (1 document), " in (
        "\n".join(report.summary())
    )
    assert "elsewhere" not in await mongo.list_database_names()


async def test_indexes_and_empty_collections_from_the_metadata_are_created(
    mongo, target, mongodb_url, tmp_path
):
    library = {"v": 2, "key": {"meta.library": 1}, "name": "by_library"}
    infos = [
        CollectionInfo("repository", "models", metadata_json("models", [library])),
        CollectionInfo("repository_grid", "extra", metadata_json("extra", [])),  # empty
    ]
    path = tmp_path / "idx.dump"
    with path.open("wb") as out:
        writer = ArchiveWriter(out, infos)
        writer.end("repository", "models")
        writer.end("repository_grid", "extra")
        writer.finish()
    report = await restore(target.databases, mongodb_url, path)
    assert "extra" in await mongo[target.grid_db_name].list_collection_names()
    indexes = {i["name"]: i async for i in await mongo[target.db_name].models.list_indexes()}
    assert dict(indexes["by_library"]["key"]) == {"meta.library": 1}
    assert f"{target.db_name}.models.by_library" in report.indexes_created


async def test_restore_from_a_directory_dump(mongo, target, mongodb_url, tmp_path):
    for (db, coll), docs in sample_documents().items():
        folder = tmp_path / "dump" / db
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{coll}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
        (folder / f"{coll}.metadata.json").write_text(metadata_json(coll, []))
    report = await restore(target.databases, mongodb_url, tmp_path / "dump")
    assert await counts(mongo, target) == SAMPLE_COUNTS
    assert not any(r.crc_checked for r in report.namespaces.values())


async def test_restore_leaves_the_documents_bound_to_the_server_client(
    mongo, settings, target, mongodb_url, sample
):
    await init_database(mongo, settings.db_name, settings.grid_db_name, 2**20)
    await restore(target.databases, mongodb_url, sample)
    collection = MLModel.get_pymongo_collection()
    assert collection.database.name == settings.db_name
    assert await collection.count_documents({}) == 0  # the server's mongo still works


async def test_seed_at_startup_restores_an_empty_repository(mongo, target, mongodb_url, sample):
    # Indexes alone (as the server creates at startup) still count as empty.
    await mongo[target.db_name].models.create_index("model_name")
    report = await restore_if_empty(target.databases, mongodb_url, sample)
    assert report is not None
    assert report.documents == sum(SAMPLE_COUNTS.values())
    assert await counts(mongo, target) == SAMPLE_COUNTS


async def test_seed_at_startup_leaves_a_non_empty_repository_alone(
    mongo, target, mongodb_url, sample
):
    await mongo[target.grid_db_name]["fs.files"].insert_one({"filename": "x", "length": 0})
    assert await restore_if_empty(target.databases, mongodb_url, sample) is None
    assert await counts(mongo, target) == {"grid.fs.files": 1}


async def test_seed_at_startup_refuses_a_damaged_archive(target, mongodb_url, sample):
    sample.write_bytes(sample.read_bytes()[:-10])
    with pytest.raises(SeedError, match="truncated"):
        await restore_if_empty(target.databases, mongodb_url, sample)


async def test_files_written_by_other_tools_restore_and_read(mongo, target, mongodb_url, tmp_path):
    """fs.files documents without uploadDate, with lengths stored as doubles or as no number
    at all, restore, get a pickle-scan label and read as files."""
    pickle_bytes = b"\x80\x04K\x01."  # pickle.dumps(1)
    oid, odd = bson.ObjectId(), bson.ObjectId()
    files = [
        {"_id": oid, "filename": "f", "length": float(len(pickle_bytes)), "chunkSize": 255.0},
        {"_id": odd, "filename": "g", "length": "six", "chunkSize": float("inf")},
    ]
    infos = [
        CollectionInfo("repository_grid", "fs.files", metadata_json("fs.files", [])),
        CollectionInfo("repository_grid", "fs.chunks", metadata_json("fs.chunks", [])),
    ]
    path = tmp_path / "foreign.dump"
    with path.open("wb") as out:
        writer = ArchiveWriter(out, infos)
        writer.write("repository_grid", "fs.files", [bson.encode(f) for f in files])
        chunk = {"files_id": oid, "n": 0, "data": bson.Binary(pickle_bytes)}
        writer.write("repository_grid", "fs.chunks", [bson.encode(chunk)])
        for info in infos:
            writer.end(info.db, info.collection)
        writer.finish()
    report = await restore(target.databases, mongodb_url, path)
    assert report.documents == 3
    store = FileStore(mongo[target.grid_db_name], max_bytes=1 << 20)
    stored = await store.get(str(oid))
    assert stored is not None
    assert (stored.length, stored.chunk_size) == (len(pickle_bytes), 255)
    assert stored.upload_date == oid.generation_time
    assert stored.safety.verdict == Verdict.SAFE
    assert b"".join([c async for c in store.stream(str(oid))]) == pickle_bytes
    broken = await store.get(str(odd))
    assert broken is not None and (broken.length, broken.chunk_size) == (0, 0)


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (7, 7),
        (7.0, 7),
        (bson.Int64(7), 7),
        (7.5, 0),
        (-1, 0),
        (float("nan"), 0),
        (float("inf"), 0),
        (True, 0),
        ("7", 0),
        (None, 0),
    ],
)
def test_stored_lengths_read_as_whole_numbers(value, count):
    assert whole_number(value) == count
