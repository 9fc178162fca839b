"""Recording rounds of a training run over GraphQL: what is stored, idempotency, conflicts,
refused input, and the links from a model and a training result."""

from helpers import grid_counts, only_error
from runs_client import (
    ROUND_FIELDS,
    create_model,
    participant,
    record_round,
    sha256,
    start_run,
)

KEY = ("cnn", "1", "run-1")
RUN = """query($n: String!, $v: String!, $t: String!) {
  trainingRun(modelName: $n, modelVersion: $v, trainingId: $t) {
    rounds(limit: 10) { number weights { sha256 } }
    latestRound { number } bestRound(metric: "accuracy", direction: MAX) { number }
    low: bestRound(metric: "loss", direction: MIN) { number }
  } }"""


async def started(gql) -> None:
    await create_model(gql, "cnn", "1", b"model zip v1")
    await start_run(gql, KEY, objective={"metric": "accuracy", "direction": "MAX"})


async def test_a_round_is_stored_with_its_files_participants_and_metrics(client, gql, db, grid):
    await started(gql)
    clients = [participant(f"c{i}", 10 + i, b"update %d" % i, loss=0.5) for i in range(3)]
    reply = await record_round(
        client, KEY, 1, b"w1", b"s1", metrics={"accuracy": 0.7}, participants=clients
    )
    stored = reply["data"]["recordRound"]
    assert stored["weights"]["sha256"] == stored["weightsSha256"] == sha256(b"w1")
    assert stored["aggregatorState"]["sha256"] == sha256(b"s1")
    assert stored["participantCount"] == 3
    assert [p["clientId"] for p in stored["participants"]] == ["c0", "c1", "c2"]
    assert stored["participants"][1]["updateSha256"] == sha256(b"update 1")
    weights = await client.get(stored["weights"]["downloadUrl"])
    assert weights.content == b"w1"
    # the files went through the upload pipeline: scanned, and named after the round
    doc = await grid["fs.files"].find_one({"sha256": sha256(b"w1")})
    assert doc["filename"] == "rounds/cnn/1/run-1/1/weights"
    assert doc["safety"]["verdict"]
    assert await db.rounds.count_documents({}) == 1


async def test_recording_a_round_again_answers_it_or_refuses_other_content(client, gql, db, grid):
    await started(gql)
    first = await record_round(client, KEY, 3, b"w3", metrics={"accuracy": 0.8})
    before = await grid_counts(grid)
    again = await record_round(client, KEY, 3, b"w3", metrics={"accuracy": 0.8})
    assert again["data"] == first["data"]
    assert await grid_counts(grid) == before  # the second upload was not kept
    other = await record_round(client, KEY, 3, b"other weights", metrics={"accuracy": 0.8})
    error = only_error(other)
    assert error["extensions"]["code"] == "CONFLICT"
    assert "round 3" in error["message"]
    other_metrics = await record_round(client, KEY, 3, b"w3", metrics={"accuracy": 0.9})
    assert only_error(other_metrics)["extensions"]["code"] == "CONFLICT"
    assert await grid_counts(grid) == before
    assert await db.rounds.count_documents({}) == 1


async def test_latest_and_best_rounds_are_derived(client, gql):
    await started(gql)
    for number, accuracy, loss in ((1, 0.5, 0.9), (2, 0.9, 0.4), (3, 0.7, 0.2)):
        metrics = {"accuracy": accuracy, "loss": loss}
        assert "errors" not in await record_round(
            client, KEY, number, b"w%d" % number, None, metrics
        )
    run = (await gql.data(RUN, n="cnn", v="1", t="run-1"))["trainingRun"]
    assert [r["number"] for r in run["rounds"]] == [1, 2, 3]
    assert run["latestRound"] == {"number": 3}
    assert run["bestRound"] == {"number": 2}
    assert run["low"] == {"number": 3}


async def test_bad_rounds_are_refused_and_leave_nothing(client, gql, db, grid):
    await started(gql)
    before = await grid_counts(grid)
    bad = [
        ((KEY[0], KEY[1], "never-started"), 1, {}, "NOT_FOUND"),
        (KEY, 0, {}, "BAD_USER_INPUT"),
        (KEY, 1, {"participants": [{**participant("c", 1, b"u"), "numExamples": -1}]},
         "BAD_USER_INPUT"),
        (KEY, 1, {"participants": [{**participant("c", 1, b"u"), "updateSha256": "xyz"}]},
         "BAD_USER_INPUT"),
        (KEY, 1, {"metrics": {"$bad": 1}}, "BAD_USER_INPUT"),
    ]  # fmt: skip
    for key, number, more, code in bad:
        reply = await record_round(client, key, number, b"weights", **more)
        assert only_error(reply)["extensions"]["code"] == code, (key, number, more)
    assert await grid_counts(grid) == before
    assert await db.rounds.count_documents({}) == 0


async def test_a_model_lists_its_runs_and_a_result_links_its_last_round(client, gql):
    await started(gql)
    await record_round(client, KEY, 1, b"w1")
    await record_round(client, KEY, 2, b"w2")
    await gql.data(
        'mutation { createTrainingResult(input: {modelName: "cnn", modelVersion: "1", '
        'trainingId: "run-1"}) { trainingId } }'
    )
    found = await gql.data(
        '{ model(modelName: "cnn", modelVersion: "1") { runs { trainingId '
        "latestCheckpoint { number } trainingResult { trainingId lastRound { number "
        f"{ROUND_FIELDS} }} }} }} }} }}"
    )
    (run,) = found["model"]["runs"]
    assert run["latestCheckpoint"]["number"] == 2
    last = run["trainingResult"]["lastRound"]
    assert last["number"] == 2 and last["weights"]["sha256"] == sha256(b"w2")


async def test_starting_a_run_again_answers_it_or_refuses_other_inputs(gql, db):
    await started(gql)
    again = await start_run(gql, KEY, objective={"metric": "accuracy", "direction": "MAX"})
    assert again["trainingId"] == "run-1"
    other = await gql.error(
        'mutation { startTrainingRun(modelName: "cnn", modelVersion: "1", trainingId: "run-1") '
        "{ trainingId } }"
    )
    assert other["extensions"]["code"] == "CONFLICT"
    for missing in ('strategyName: "nope"', 'transformationIds: ["nope"]'):
        error = await gql.error(
            f'mutation {{ startTrainingRun(modelName: "cnn", modelVersion: "1", '
            f'trainingId: "run-2", {missing}) {{ trainingId }} }}'
        )
        assert error["extensions"]["code"] == "NOT_FOUND", missing
    absent = await gql.error(
        'mutation { startTrainingRun(modelName: "none", modelVersion: "1", trainingId: "t") '
        "{ trainingId } }"
    )
    assert absent["extensions"]["code"] == "NOT_FOUND"
    assert await db.runs.count_documents({}) == 1
