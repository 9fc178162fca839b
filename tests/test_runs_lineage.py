"""A run's lineage is pinned to exact bytes: the model, strategy and transformation files it
started from stay, with their sha256, after they are replaced or deleted, for as long as the
run exists; the orphan check counts them as referenced."""

from flrepo.documents.integrity import Repository, check
from runs_client import create_model, record_round, sha256, start_run

KEY = ("lin", "1", "run-1")
PIN = "name revision sha256 file { id sha256 length downloadUrl }"
STARTED_FROM = f"""{{ trainingRun(modelName: "lin", modelVersion: "1", trainingId: "run-1") {{
  startedFrom {{ model {{ {PIN} }} strategy {{ {PIN} }} transformations {{ {PIN} }} }} }} }}"""


async def with_lineage(gql) -> None:
    await create_model(gql, "lin", "1", b"model bytes, first revision")
    await gql.data('mutation { createStrategy(input: {strategyName: "fedavg"}) { strategyName } }')
    await gql.upload_data(
        'mutation($file: Upload!) { uploadStrategyFile(strategyName: "fedavg", file: $file) '
        "{ strategyName } }",
        {},
        b"strategy bytes",
    )
    await gql.data('mutation { createTransformation(input: {id: "scale"}) { id } }')
    await gql.upload_data(
        'mutation($file: Upload!) { uploadTransformationFile(id: "scale", file: $file) { id } }',
        {},
        b"transformation bytes",
    )
    await start_run(gql, KEY, strategy="fedavg", transformations=["scale"])


async def test_the_run_names_the_exact_files_it_started_from(gql, client):
    await with_lineage(gql)
    started = (await gql.data(STARTED_FROM))["trainingRun"]["startedFrom"]
    assert started["model"]["name"] == "lin/1"
    assert started["model"]["sha256"] == sha256(b"model bytes, first revision")
    assert started["strategy"]["sha256"] == sha256(b"strategy bytes")
    assert [t["name"] for t in started["transformations"]] == ["scale"]
    assert started["transformations"][0]["file"]["sha256"] == sha256(b"transformation bytes")
    assert started["model"]["revision"] == started["model"]["file"]["id"]


async def test_a_replaced_model_file_is_still_served_by_the_run(gql, client, db, grid):
    await with_lineage(gql)
    await gql.upload_data(
        'mutation($file: Upload!) { uploadModelFile(modelName: "lin", modelVersion: "1", '
        "file: $file) { modelName } }",
        {},
        b"model bytes, second revision",
    )
    current = await gql.data('{ model(modelName: "lin", modelVersion: "1") { file { sha256 } } }')
    assert current["model"]["file"]["sha256"] == sha256(b"model bytes, second revision")
    pinned = (await gql.data(STARTED_FROM))["trainingRun"]["startedFrom"]["model"]
    assert pinned["sha256"] == pinned["file"]["sha256"] == sha256(b"model bytes, first revision")
    assert (await client.get(pinned["file"]["downloadUrl"])).content == (
        b"model bytes, first revision"
    )
    # deleting the model keeps the pinned file too, and the check finds no orphan
    await gql.data('mutation { deleteModel(modelName: "lin", modelVersion: "1") }')
    assert (await client.get(pinned["file"]["downloadUrl"])).status_code == 200
    report = await check(Repository(db, grid), grace_s=0, repair=True)
    assert report.findings == [], report.findings
    assert (await client.get(pinned["file"]["downloadUrl"])).status_code == 200


async def test_deleting_the_run_frees_its_pins_and_round_files(gql, client, db, grid):
    await with_lineage(gql)
    await record_round(client, KEY, 1, b"round weights", b"round state")
    first = (await gql.data(STARTED_FROM))["trainingRun"]["startedFrom"]["model"]
    await gql.upload_data(
        'mutation($file: Upload!) { uploadModelFile(modelName: "lin", modelVersion: "1", '
        "file: $file) { modelName } }",
        {},
        b"model bytes, second revision",
    )
    assert await gql.data(
        'mutation { deleteTrainingRun(modelName: "lin", modelVersion: "1", trainingId: "run-1") }'
    ) == {"deleteTrainingRun": True}
    assert await db.rounds.count_documents({}) == 0
    assert await grid["fs.files"].count_documents({"filename": {"$regex": "^rounds/"}}) == 0
    report = await check(Repository(db, grid), grace_s=0, repair=True)
    # the first model file, pinned no more, is the model's revision now: kept for the
    # revision retention (test_revisions.py), no orphan
    assert report.repaired == [], report.repaired
    assert (await client.get(first["file"]["downloadUrl"])).status_code == 200
    assert await db.file_revisions.count_documents({"file_id": first["revision"]}) == 1
    # and the current files of the model, strategy and transformation are untouched
    assert await grid["fs.files"].count_documents({}) == 4
