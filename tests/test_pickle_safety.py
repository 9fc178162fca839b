"""Pickle verdicts through the APIs: GraphQL, REST, the refuse policy, `flrepo scan`, restore."""

import pickle

import numpy
import pydantic
import pytest
import requests
from flrepo.seed.sample.build import build_sample
from gridfs import AsyncGridFSBucket, GridFSBucket
from helpers import GraphQL, grid_counts, running_app
from pickles import global_call, stack_global_call, torch_checkpoint
from pymongo import MongoClient
from rest_fixtures import assert_created, assert_invalid, put_file, running_server

from flrepo.cli.main import main
from flrepo.settings import Settings

pytest_plugins = ["rest_fixtures"]

EXPLOIT = global_call("os", "system", "echo pwned", 2)
WEIGHTS = pickle.dumps({"layer": numpy.ones((4, 4), dtype=numpy.float32)}, protocol=4)
SAFETY = "safety { verdict globals dangerousGlobals notes scanner scannedAt }"
CREATE = (
    "mutation($name: String!) { createStrategy(input: {strategyName: $name}) { strategyName } }"
)
UPLOAD = (
    "mutation($name: String!, $file: Upload!) { uploadStrategyFile(strategyName: $name, "
    f"file: $file) {{ file {{ id downloadUrl {SAFETY} }} }} }}"
)
STRATEGY_FILE = (
    f"query($name: String!) {{ strategy(strategyName: $name) {{ file {{ id {SAFETY} }} }} }}"
)
FILES = (
    "query($safety: PickleVerdict) "
    "{ files(safety: $safety, limit: null) { id safety { verdict } } }"
)


async def upload_strategy(gql, name: str, data: bytes) -> dict:
    reply = await gql.upload_data(UPLOAD, {"name": name}, data)
    return reply["uploadStrategyFile"]["file"]


async def file_ids(gql, safety: str | None) -> set[str]:
    files = (await gql.data(FILES, safety=safety))["files"]
    if safety:
        assert all(f["safety"]["verdict"] == safety for f in files)
    return {f["id"] for f in files}


async def test_graphql_upload_is_labelled_listed_and_downloaded_with_its_verdict(gql, client):
    await gql.data(CREATE, name="evil")
    await gql.data(CREATE, name="weights")
    await gql.data(CREATE, name="checkpoint")
    evil = await upload_strategy(gql, "evil", EXPLOIT)
    weights = await upload_strategy(gql, "weights", WEIGHTS)
    checkpoint = await upload_strategy(gql, "checkpoint", torch_checkpoint())

    assert evil["safety"]["verdict"] == "DANGEROUS"
    assert evil["safety"]["globals"] == ["os.system"]
    assert evil["safety"]["dangerousGlobals"] == ["os.system"]
    assert evil["safety"]["scanner"].startswith("flrepo-pickle-scan")
    assert evil["safety"]["scannedAt"]
    assert weights["safety"]["verdict"] == "SAFE"
    assert weights["safety"]["dangerousGlobals"] == []
    assert "numpy.dtype" in weights["safety"]["globals"]
    assert checkpoint["safety"]["verdict"] == "SAFE"

    assert await file_ids(gql, "DANGEROUS") == {evil["id"]}
    assert await file_ids(gql, "SAFE") == {weights["id"], checkpoint["id"]}
    assert await file_ids(gql, None) == {evil["id"], weights["id"], checkpoint["id"]}

    response = await client.get(evil["downloadUrl"])
    assert response.status_code == 200
    assert response.content == EXPLOIT
    assert response.headers["x-pickle-safety"] == "DANGEROUS"
    response = await client.get(weights["downloadUrl"])
    assert response.headers["x-pickle-safety"] == "SAFE"


async def test_a_file_stored_without_scanning_reads_unscanned(gql, client, db, grid):
    """As the original service stored them: GridFS directly, no label."""
    file_id = await AsyncGridFSBucket(grid).upload_from_stream("strategy/old", EXPLOIT)
    await db["strategies"].insert_one({"strategy_name": "old", "strategy_id": str(file_id)})
    stored = (await gql.data(STRATEGY_FILE, name="old"))["strategy"]["file"]
    assert stored["safety"] == {
        "verdict": "UNSCANNED",
        "globals": [],
        "dangerousGlobals": [],
        "notes": [],
        "scanner": None,
        "scannedAt": None,
    }
    assert await file_ids(gql, "UNSCANNED") == {str(file_id)}
    assert await file_ids(gql, "DANGEROUS") == set()
    response = await client.get(f"/files/{file_id}")
    assert response.headers["x-pickle-safety"] == "UNSCANNED"


async def test_graphql_refuse_policy_keeps_the_old_file(settings, mongodb_url, grid):
    refusing = settings.model_copy(update={"pickle_policy": "refuse"})
    async with running_app(refusing, mongodb_url) as client:
        gql = GraphQL(client)
        await gql.data(CREATE, name="s")
        old = await upload_strategy(gql, "s", WEIGHTS)
        before = await grid_counts(grid)

        body = await gql.upload(UPLOAD, {"name": "s"}, EXPLOIT)
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "os.system" in error["message"]

        assert await grid_counts(grid) == before
        now = (await gql.data(STRATEGY_FILE, name="s"))["strategy"]["file"]
        assert now["id"] == old["id"]
        response = await client.get(old["downloadUrl"])
        assert response.content == WEIGHTS

        # an archive with a malicious member is refused too; SUSPICIOUS files are not
        checkpoint = torch_checkpoint(stack_global_call("builtins", "exec", "1", 2))
        body = await gql.upload(UPLOAD, {"name": "s"}, checkpoint)
        assert "builtins.exec" in body["errors"][0]["message"]
        custom = global_call("fedlib", "Strategy", "x", 2)
        assert (await upload_strategy(gql, "s", custom))["safety"]["verdict"] == "SUSPICIOUS"


def test_rest_upload_download_and_listing_carry_the_verdict(rest_server, uid):
    assert_created(requests.post(rest_server("/strategy"), json={"strategy_name": uid}))
    assert put_file(rest_server(f"/strategy/{uid}"), EXPLOIT).status_code == 204
    response = requests.get(rest_server(f"/strategy/{uid}"))
    assert response.status_code == 200
    assert response.content == EXPLOIT
    assert response.headers["X-Pickle-Safety"] == "DANGEROUS"
    listing = requests.get(rest_server("/models/available")).json()
    (mine,) = [f for f in listing if f["filename"] == f"strategy/{uid}"]
    assert mine["safety"]["verdict"] == "DANGEROUS"
    assert mine["safety"]["dangerousGlobals"] == ["os.system"]

    body = {"model_name": uid, "model_version": "1", "training_id": "t"}
    assert_created(requests.post(rest_server("/training-results"), json=body))
    url = rest_server(f"/training-results/{uid}/1/t/cfg")
    assert put_file(url, WEIGHTS).status_code == 204
    weights = rest_server(f"/training-results/weights/{uid}/1/t")
    as_json = requests.get(weights)
    assert as_json.headers["X-Pickle-Safety"] == "SAFE"
    raw = requests.get(weights, headers={"Accept": "application/octet-stream"})
    assert raw.headers["X-Pickle-Safety"] == "SAFE"
    assert raw.content == WEIGHTS


@pytest.fixture(scope="module")
def refusing_server(sync_mongo, mongodb_url, tmp_path_factory):
    env = {"FLREPO_PICKLE_POLICY": "refuse"}
    with running_server(sync_mongo, mongodb_url, tmp_path_factory.mktemp("refuse"), env) as s:
        yield s


def test_rest_refuse_policy_answers_422_and_keeps_the_old_file(refusing_server, uid):
    server = refusing_server
    assert_created(requests.post(server("/strategy"), json={"strategy_name": uid}))
    assert put_file(server(f"/strategy/{uid}"), WEIGHTS).status_code == 204
    before = server.snapshot()

    errors = assert_invalid(put_file(server(f"/strategy/{uid}"), EXPLOIT))
    assert "os.system" in errors[0]["msg"]
    assert server.snapshot() == before
    response = requests.get(server(f"/strategy/{uid}"))
    assert response.content == WEIGHTS
    assert response.headers["X-Pickle-Safety"] == "SAFE"

    # a first upload refused leaves nothing behind either
    other = uid + "b"
    assert_created(requests.post(server("/strategy"), json={"strategy_name": other}))
    before = server.snapshot()
    assert_invalid(put_file(server(f"/strategy/{other}"), EXPLOIT))
    assert server.snapshot() == before


def test_the_policy_setting_takes_only_known_values(monkeypatch):
    monkeypatch.setenv("FLREPO_PICKLE_POLICY", "refuse")
    assert Settings().pickle_policy == "refuse"
    assert Settings.model_fields["pickle_policy"].default == "report"
    monkeypatch.setenv("FLREPO_PICKLE_POLICY", "block")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def verdicts(mongodb_url: str, settings: Settings) -> dict[str, str | None]:
    with MongoClient(mongodb_url) as client:
        docs = client[settings.grid_db_name]["fs.files"].find()
        return {d["filename"]: (d.get("safety") or {}).get("verdict") for d in docs}


def test_flrepo_scan_labels_a_repository_written_without_scanning(names, mongodb_url, capsys):
    with MongoClient(mongodb_url) as client:
        bucket = GridFSBucket(client[names.grid_db_name], chunk_size_bytes=1024)
        bucket.upload_from_stream("strategy/evil", EXPLOIT)
        bucket.upload_from_stream("weights/m/1/c", WEIGHTS)
        bucket.upload_from_stream("model/m/1", torch_checkpoint())  # several chunks
        bucket.upload_from_stream("transformation/t", b"not a pickle at all")
    assert set(verdicts(mongodb_url, names).values()) == {None}

    assert main(["scan", "--mongodb-url", mongodb_url]) == 0
    out = capsys.readouterr().out
    assert "scanned 4 files: 1 DANGEROUS, 1 NOT_PICKLE, 2 SAFE" in out
    assert verdicts(mongodb_url, names) == {
        "strategy/evil": "DANGEROUS",
        "weights/m/1/c": "SAFE",
        "model/m/1": "SAFE",
        "transformation/t": "NOT_PICKLE",
    }

    assert main(["scan", "--mongodb-url", mongodb_url]) == 0
    assert "scanned 0 files" in capsys.readouterr().out

    # a label that is wrong (as one brought in from elsewhere may be) is fixed by --rescan
    with MongoClient(mongodb_url) as client:
        files = client[names.grid_db_name]["fs.files"]
        files.update_one({"filename": "strategy/evil"}, {"$set": {"safety.verdict": "SAFE"}})
    assert main(["scan", "--rescan", "--mongodb-url", mongodb_url]) == 0
    assert "scanned 4 files" in capsys.readouterr().out
    assert verdicts(mongodb_url, names)["strategy/evil"] == "DANGEROUS"


def test_a_restore_labels_the_files_it_brings_in(names, mongodb_url, tmp_path, capsys):
    sample = tmp_path / "sample.dump"
    build_sample(sample)
    assert main(["seed", "restore", str(sample), "--mongodb-url", mongodb_url]) == 0
    out = capsys.readouterr().out
    assert "pickle scan of the stored files: scanned" in out
    labels = verdicts(mongodb_url, names)
    assert labels
    assert None not in labels.values()
