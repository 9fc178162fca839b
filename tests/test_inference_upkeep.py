"""Services and inferencers under the repository's upkeep: dump and restore, `flrepo check`
and the orphan sweep, `flrepo scan`, and tus uploads."""

import io
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import requests
from bson import ObjectId
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.integrity import Repository, check, sweep
from flrepo.operations import inference
from flrepo.operations.access import SCOPES, Caller, acting_as
from flrepo.seed.dump import dump
from flrepo.seed.restore import restore
from gridfs import GridFSBucket
from pickles import global_call
from pymongo import AsyncMongoClient, MongoClient
from rest_fixtures import assert_created
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError
from uploads import Bytes

from flrepo.cli.main import main
from flrepo.settings import Settings

pytest_plugins = ["rest_fixtures"]

EXPLOIT = global_call("os", "system", "echo pwned", 2)


@pytest.fixture
def every_scope() -> Iterator[None]:
    """Tests calling the operations directly act as a caller holding every scope."""
    with acting_as(Caller("tests", frozenset(SCOPES), token=True)):
        yield


@pytest.fixture
async def target(mongodb_url: str) -> AsyncIterator[Settings]:
    """A second pair of fresh databases to restore into."""
    tag = uuid.uuid4().hex[:12]
    settings = Settings(mongodb_url=mongodb_url, db_name=f"r{tag}", grid_db_name=f"r{tag}_g")
    yield settings
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    await client.drop_database(settings.db_name)
    await client.drop_database(settings.grid_db_name)
    await client.close()


async def populate(files) -> dict[str, bytes]:
    """A service and an inferencer, each with an object; the objects by GridFS name."""
    service = Service(service_id="svc", description="gRPC", needs={"RAM": 1.0})
    await inference.create_service(service)
    await inference.create_inferencer(Inferencer(inferencer_id="inf", library="torch"))
    # random bytes after a byte no pickle opcode or archive starts with: NOT_PICKLE every run
    objects = {"service/svc": b"\x00" + os.urandom(700_000), "inferencer/inf": b"inferencer"}
    await inference.upload_service_file(files, "svc", Bytes(objects["service/svc"]))
    await inference.upload_inferencer_file(files, "inf", Bytes(objects["inferencer/inf"]))
    return objects


async def test_a_dump_restores_services_and_inferencers_with_their_objects(
    app, every_scope, db, mongo, settings, target, mongodb_url, tmp_path
):
    objects = await populate(app.state.files)
    path = tmp_path / "db.dump"
    report = await dump(settings.databases, mongodb_url, path)
    assert report.namespaces["repository.services"] == 1
    assert report.namespaces["repository.inferencers"] == 1

    restored = await restore(target.databases, mongodb_url, path)
    assert restored.skipped == 0
    restored_db, restored_grid = mongo[target.db_name], mongo[target.grid_db_name]
    for collection in ("services", "inferencers"):
        before = await db[collection].find_one({})
        assert await restored_db[collection].find_one({}) == before
        indexes = await restored_db[collection].index_information()
        assert any(
            index.get("unique") and index["key"] == [("id", 1)] for index in indexes.values()
        )
    for name, data in objects.items():
        record = await restored_grid["fs.files"].find_one({"filename": name})
        chunks = restored_grid["fs.chunks"].find({"files_id": record["_id"]}).sort("n", 1)
        assert b"".join([chunk["data"] async for chunk in chunks]) == data
        assert record["safety"]["verdict"] == "NOT_PICKLE"  # scanned again on the way in


async def test_check_knows_their_files_and_repairs_a_missing_one(app, every_scope, db, grid):
    await populate(app.state.files)
    repo = Repository(db, grid)
    assert (await check(repo, grace_s=0, repair=False)).findings == []
    assert await sweep(repo, grace_s=0) == []  # their objects are not orphans
    assert await grid["fs.files"].count_documents({}) == 2

    file_id = ObjectId((await db.inferencers.find_one({"id": "inf"}))["storage_id"])
    await grid["fs.files"].delete_one({"_id": file_id})
    report = await check(repo, grace_s=3600, repair=True)
    assert [f.kind for f in report.repaired] == ["reference to a missing file"]
    assert str(file_id) in report.repaired[0].subject
    assert (await db.inferencers.find_one({"id": "inf"}))["storage_id"] is None
    assert (await db.services.find_one({"id": "svc"}))["storage_id"] is not None


def test_flrepo_scan_labels_their_objects(names, mongodb_url, capsys):
    with MongoClient(mongodb_url) as client:
        bucket = GridFSBucket(client[names.grid_db_name])
        ids = {
            "services": bucket.upload_from_stream("service/evil", EXPLOIT),
            "inferencers": bucket.upload_from_stream("inferencer/plain", b"not a pickle"),
        }
        for collection, file_id in ids.items():
            client[names.db_name][collection].insert_one({"id": "x", "storage_id": str(file_id)})
    assert main(["scan", "--mongodb-url", mongodb_url]) == 0
    assert "scanned 2 files: 1 DANGEROUS, 1 NOT_PICKLE" in capsys.readouterr().out
    with MongoClient(mongodb_url) as client:
        files = client[names.grid_db_name]["fs.files"]
        labels = {d["filename"]: d["safety"]["verdict"] for d in files.find()}
    assert labels == {"service/evil": "DANGEROUS", "inferencer/plain": "NOT_PICKLE"}


@pytest.mark.parametrize("word", ["service", "inferencer"])
def test_a_tus_upload_attaches_their_object(rest_server, uid, word):
    key = f"inference_application.code.{uid}"
    assert_created(requests.post(rest_server(f"/{word}"), json={"id": key}))
    data = os.urandom(600_000)
    metadata = {"kind": word, f"{word}_id": key, "filename": f"{word}.pkl"}
    uploader = TusClient(rest_server("/uploads/")).uploader(
        file_stream=io.BytesIO(data), chunk_size=250_000, metadata=metadata
    )
    uploader.upload()
    assert requests.get(rest_server(f"/{word}/{key}")).content == data
    stored = rest_server.db[f"{word}s"].find_one({"id": key})
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(stored["storage_id"])})
    assert record["filename"] == f"{word}/{key}"
    assert record["uploadedName"] == f"{word}.pkl"


def test_a_tus_upload_for_an_unknown_one_is_refused(rest_server, uid):
    metadata = {"kind": "service", "service_id": f"absent.{uid}"}
    uploader = TusClient(rest_server("/uploads/")).uploader(
        file_stream=io.BytesIO(b"object"), chunk_size=1000, metadata=metadata
    )
    with pytest.raises(TusCommunicationError) as refused:
        uploader.upload()
    assert refused.value.status_code == 404
    assert rest_server.db.services.count_documents({"id": f"absent.{uid}"}) == 0
