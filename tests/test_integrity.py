"""`flrepo check [--repair]` and the server's orphan sweep, on the real database."""

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bson import ObjectId
from flrepo.documents import chunk_writer
from flrepo.documents.files import FileStore
from flrepo.documents.integrity import Repository, check, sweep
from flrepo.documents.upload_registry import LEGACY_CLAIMS
from flrepo.documents.uploads import UploadStore
from flrepo.operations import common, models, strategies
from flrepo.operations.access import SCOPES, Caller, acting_as
from helpers import running_app
from pymongo.errors import AutoReconnect
from uploads import Bytes, Paused, read_with_gridfs

from flrepo.app import every


@pytest.fixture(autouse=True)
def every_scope():
    """These tests call the resolvers directly, as a caller holding every scope."""
    with acting_as(Caller("tests", frozenset(SCOPES), token=True)):
        yield


FLREPO = str(Path(sys.executable).parent / "flrepo")
CHUNK = chunk_writer.CHUNK_SIZE


class Crash(BaseException):
    """The process dying at this point."""


def run_check(settings, *flags: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLREPO_")},
        "FLREPO_DB_NAME": settings.db_name,
        "FLREPO_GRID_DB_NAME": settings.grid_db_name,
    }
    command = [FLREPO, "check", "--mongodb-url", settings.mongodb_url, *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "step-by-step"])
async def test_a_crash_during_a_replacement_is_found_and_repaired(
    app, settings, db, grid, monkeypatch, transactions
):
    files = app.state.files
    files.transactions = transactions
    await models.create_model("m", "1", None)
    old_data = os.urandom(CHUNK + 10)
    old = (await models.upload_model_file(files, "m", "1", Bytes(old_data))).model_id

    async def crash(*args, **kwargs):
        raise Crash

    # The crash comes as the replaced file is recorded as a revision, after the swap.
    monkeypatch.setattr(common, "keep", crash)
    new_data = os.urandom(2 * CHUNK)
    with pytest.raises(Crash):
        await models.upload_model_file(files, "m", "1", Bytes(new_data))
    monkeypatch.undo()

    current = (await db.models.find_one({}))["model_id"]
    # in a transaction the swap is undone and the new file is left over; step by step, the old
    assert (current == old) is transactions
    (orphan_id,) = {str(i) for i in await grid["fs.files"].distinct("_id")} - {current}
    assert (orphan_id == old) is not transactions

    found = run_check(settings, "--grace", "0")
    assert found.returncode == 1, found.stderr
    assert f"orphaned file: {orphan_id} ('model/m/1'" in found.stdout
    assert len(found.stdout.splitlines()) == 1

    waiting = run_check(settings, "--repair")  # the default grace: too young to remove
    assert waiting.returncode == 0, waiting.stderr
    assert await grid["fs.files"].count_documents({}) == 2

    repaired = run_check(settings, "--repair", "--grace", "0")
    assert repaired.returncode == 0, repaired.stderr
    assert f"repaired orphaned file: {orphan_id}" in repaired.stdout
    again = run_check(settings, "--grace", "0")
    assert (again.returncode, again.stdout.strip()) == (0, "flrepo check: no problems found")

    assert await grid["fs.files"].count_documents({}) == 1
    assert await grid["fs.chunks"].distinct("files_id") == [ObjectId(current)]
    kept = old_data if transactions else new_data
    assert await read_with_gridfs(grid, ObjectId(current)) == kept


async def test_check_finds_each_kind_of_damage_and_repairs_what_it_can(app, db, grid):
    files = app.state.files
    for name in ("dangling", "short", "altered", "fine"):
        await strategies.create_strategy(name, None, None)
        await strategies.upload_strategy_file(files, name, Bytes(os.urandom(3 * CHUNK)))
    ids = {d["strategy_name"]: ObjectId(d["strategy_id"]) async for d in db.strategies.find()}
    await grid["fs.files"].delete_one({"_id": ids["dangling"]})  # its chunks stay: orphans too
    await grid["fs.chunks"].delete_one({"files_id": ids["short"], "n": 1})
    await grid["fs.chunks"].update_one(
        {"files_id": ids["altered"], "n": 2}, {"$set": {"data": os.urandom(CHUNK)}}
    )
    old = ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=2))
    await grid["fs.chunks"].insert_one({"files_id": old, "n": 0, "data": b"left over"})

    repo = Repository(db, grid)
    report = await check(repo, grace_s=3600, repair=False)
    text = sorted(str(f) for f in report.findings)
    assert len(text) == 4, text  # the chunks of "dangling" are too young to count yet
    assert any(f"chunks of {old}" in line for line in text)  # old enough even with 1 h grace
    assert any(f"{ids['dangling']!s}" in line and "names no file" in line for line in text)
    assert any(str(ids["short"]) in line and "chunk 1 of 3 is missing" in line for line in text)
    assert any(str(ids["altered"]) in line and "no longer match" in line for line in text)
    assert not any(str(ids["fine"]) in line for line in text)

    report = await check(repo, grace_s=0, repair=True)
    repaired = {f.kind for f in report.repaired}
    assert repaired == {"orphaned chunks", "reference to a missing file"}
    assert {f.kind for f in report.unrepaired} == {"damaged file"}  # reported, never removed
    assert (await db.strategies.find_one({"strategy_name": "dangling"}))["strategy_id"] is None
    gone = {"files_id": {"$in": [old, ids["dangling"]]}}
    assert await grid["fs.chunks"].count_documents(gone) == 0
    assert await grid["fs.files"].count_documents({}) == 3


async def test_an_upload_in_progress_is_never_swept(app, db, grid, monkeypatch):
    monkeypatch.setattr(chunk_writer, "CHUNKS_PER_WRITE", 1)
    files = app.state.files
    await models.create_model("m", "1", None)
    old = ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=2))
    await grid["fs.chunks"].insert_one({"files_id": old, "n": 0, "data": b"left over"})

    source = Paused(4 * CHUNK, CHUNK + 99)
    upload = asyncio.create_task(models.upload_model_file(files, "m", "1", source))
    await source.paused.wait()
    while await grid["fs.chunks"].count_documents({"files_id": {"$ne": old}}) < 4:
        await asyncio.sleep(0.01)

    repo = Repository(db, grid)
    removed = await sweep(repo, grace_s=0)
    assert [f.kind for f in removed] == ["orphaned chunks"]  # the old ones only
    report = await check(repo, grace_s=0, repair=True)
    assert report.findings == []
    assert await grid["fs.chunks"].count_documents({}) == 4

    source.go.set()
    model = await upload
    stored = await files.get(model.model_id)
    assert stored.sha256 == hashlib.sha256(source.data).hexdigest()
    assert await read_with_gridfs(grid, ObjectId(model.model_id)) == source.data


async def one_piece(data: bytes):
    yield data


async def test_check_repairs_what_the_sweep_removes_and_spares_live_uploads(db, grid):
    uploads = UploadStore(FileStore(grid, 1 << 30), timedelta(hours=1))
    live, gone = [
        await uploads.create(3 * CHUNK, f"strategy/{name}", {}, {}, None, None, None)
        for name in ("live", "gone")
    ]
    for upload in (live, gone):
        await uploads.append(upload, 0, one_piece(os.urandom(CHUNK + 1)))
    repo = Repository(db, grid)
    past = (await repo.now()) - timedelta(seconds=1)
    await grid["resumable_uploads"].update_one({"_id": gone.oid}, {"$set": {"expires": past}})

    report = await check(repo, grace_s=0, repair=False)
    assert [str(f) for f in report.findings] == [
        f"expired upload: {gone.oid} ({CHUNK + 1} of {3 * CHUNK} bytes received)"
    ]
    assert await grid["fs.chunks"].count_documents({"files_id": gone.oid}) == 2
    report = await check(repo, grace_s=0, repair=True)
    assert report.repaired == report.findings and len(report.findings) == 1
    assert await grid["fs.chunks"].count_documents({"files_id": gone.oid}) == 0
    assert await grid["fs.chunks"].count_documents({"files_id": live.oid}) == 2
    assert await sweep(repo, grace_s=0) == []  # nothing left that the sweep would remove
    assert await uploads.get(live.id) is not None and await uploads.get(gone.id) is None


async def test_a_previous_versions_claim_spares_its_upload_until_it_goes_stale(db, grid):
    """A server not yet upgraded claims its uploads in `fs.uploads`, renewed every minute."""
    repo = Repository(db, grid)
    now = await repo.now()
    old = datetime.now(UTC) - timedelta(days=2)
    running = ObjectId.from_datetime(old)
    abandoned = ObjectId.from_datetime(old - timedelta(seconds=1))
    for files_id, claimed in (
        (running, now - timedelta(seconds=60)),
        (abandoned, now - timedelta(seconds=700)),
    ):
        await grid[LEGACY_CLAIMS].insert_one({"_id": files_id, "claimed": claimed})
        await grid["fs.chunks"].insert_one({"files_id": files_id, "n": 0, "data": b"bytes"})

    removed = await sweep(repo, grace_s=0)
    assert [str(f) for f in removed] == [
        f"orphaned chunks: 1 chunks of {abandoned}, which has no fs.files document"
    ]
    assert await grid["fs.chunks"].distinct("files_id") == [running]
    assert await grid[LEGACY_CLAIMS].distinct("_id") == [running]  # the stale claim is gone


async def test_the_server_sweeps_orphans_periodically(settings, mongodb_url, grid, monkeypatch):
    quick = settings.model_copy(update={"sweep_interval_s": 0.05, "orphan_grace_s": 0})
    old = ObjectId.from_datetime(datetime.now(UTC) - timedelta(days=2))
    await grid["fs.chunks"].insert_one({"files_id": old, "n": 0, "data": b"left over"})
    async with running_app(quick, mongodb_url):
        for _ in range(200):
            if not await grid["fs.chunks"].count_documents({"files_id": old}):
                break
            await asyncio.sleep(0.05)
        assert await grid["fs.chunks"].count_documents({"files_id": old}) == 0


async def test_a_periodic_job_that_fails_is_logged_and_runs_again(caplog):
    runs = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise AutoReconnect("database away")
        if len(runs) == 2:
            raise RuntimeError("a bug")

    task = asyncio.create_task(every(0.01, job, "the test sweep"))
    for _ in range(200):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    assert len(runs) >= 3
    away, bug = [r for r in caplog.records if "the test sweep failed" in r.getMessage()][:2]
    assert "database away" in away.getMessage() and away.exc_info is None
    assert bug.exc_info is not None  # an unexpected error keeps its traceback
