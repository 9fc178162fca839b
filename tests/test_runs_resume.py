"""Crash and resume: a small Flower-like aggregator (FedAvg over numpy arrays from fake
clients) records every round through the API, crashes in round 3, restarts from
`latestCheckpoint` and finishes round 5, with every round recorded exactly once and the
same final weights as a run that never crashed."""

import numpy as np
import pytest
from runs_client import (
    CHECKPOINT,
    ROUND_FIELDS,
    create_model,
    from_bytes,
    participant,
    record_round,
    start_run,
    to_bytes,
)

KEY = ("fl", "1", "resumable")
ROUND = f"""query($n: String!, $v: String!, $t: String!, $offset: Int!) {{
  trainingRun(modelName: $n, modelVersion: $v, trainingId: $t) {{
    rounds(limit: 1, offset: $offset) {{ {ROUND_FIELDS} }} }} }}"""
ROUNDS = 5
CLIENTS = {"a": 30, "b": 50, "c": 20}  # client id: number of examples


class Crash(Exception):
    """The aggregator process dies."""


def local_update(global_weights: np.ndarray, client: str, number: int) -> np.ndarray:
    """What a client sends back: the global weights moved towards its own optimum."""
    optimum = np.full_like(global_weights, float(ord(client) - ord("a") + 1))
    return global_weights + 0.5 * (optimum - global_weights) + 0.01 * number


def fed_avg(updates: dict[str, np.ndarray]) -> np.ndarray:
    total = sum(CLIENTS.values())
    return sum(CLIENTS[c] * u for c, u in updates.items()) / total


def one_round(weights: np.ndarray, state: np.ndarray, number: int):
    """The new global weights and aggregator state (a momentum) after round `number`."""
    updates = {c: local_update(weights, c, number) for c in CLIENTS}
    averaged = fed_avg(updates)
    momentum = 0.9 * state + (averaged - weights)
    return weights + momentum, momentum, updates


def uninterrupted() -> np.ndarray:
    weights, state = np.zeros(4), np.zeros(4)
    for number in range(1, ROUNDS + 1):
        weights, state, _ = one_round(weights, state, number)
    return weights


async def aggregator(
    client, gql, crash_in: int | None = None, after_upload: bool = False, resume_at: int = 0
):
    """Run (or resume) the training up to round 5; raise Crash in round `crash_in`. Resume
    from the latest checkpoint, or from round `resume_at` if given."""
    await start_run(gql, KEY, objective={"metric": "loss", "direction": "MIN"})
    found = await gql.data(CHECKPOINT, name=KEY[0], version=KEY[1], training=KEY[2])
    checkpoint = found["latestCheckpoint"]
    if resume_at:
        rounds = await gql.data(ROUND, n=KEY[0], v=KEY[1], t=KEY[2], offset=resume_at - 1)
        checkpoint = rounds["trainingRun"]["rounds"][0]
    if checkpoint is None:
        weights, state, first = np.zeros(4), np.zeros(4), 1
    else:
        weights = from_bytes((await client.get(checkpoint["weights"]["downloadUrl"])).content)
        state_url = f"/files/{checkpoint['aggregatorState']['id']}"
        state = from_bytes((await client.get(state_url)).content)
        first = checkpoint["number"] + 1
    for number in range(first, ROUNDS + 1):
        weights, state, updates = one_round(weights, state, number)
        if number == crash_in and not after_upload:
            raise Crash
        loss = float(np.abs(weights - 2.0).sum())
        clients = [participant(c, CLIENTS[c], to_bytes(u), loss=loss) for c, u in updates.items()]
        reply = await record_round(
            client, KEY, number, to_bytes(weights), to_bytes(state), {"loss": loss}, clients
        )
        assert "errors" not in reply, reply
        if number == crash_in:
            raise Crash
    return weights


@pytest.mark.parametrize("after_upload", [False, True], ids=["before-upload", "after-upload"])
async def test_a_crashed_aggregator_resumes_from_the_latest_checkpoint(
    client, gql, db, after_upload
):
    await create_model(gql, "fl", "1", b"initial model")
    with pytest.raises(Crash):
        await aggregator(client, gql, crash_in=3, after_upload=after_upload)
    recorded = await db.rounds.distinct("number")
    assert sorted(recorded) == ([1, 2, 3] if after_upload else [1, 2])
    final = await aggregator(client, gql)
    numbers = [doc["number"] async for doc in db.rounds.find({}, {"number": 1})]
    assert sorted(numbers) == [1, 2, 3, 4, 5]  # each exactly once
    np.testing.assert_allclose(final, uninterrupted())
    last = await gql.data(CHECKPOINT, name=KEY[0], version=KEY[1], training=KEY[2])
    stored = (await client.get(last["latestCheckpoint"]["weights"]["downloadUrl"])).content
    np.testing.assert_allclose(from_bytes(stored), uninterrupted())
    assert last["latestCheckpoint"]["participantCount"] == len(CLIENTS)


async def test_a_round_sent_again_after_a_lost_answer_is_recorded_once(client, gql, db):
    """An aggregator that crashed before it saw the answer to round 3 sends round 3 again
    (from round 2): the repository answers the round it holds, and the run goes on."""
    await create_model(gql, "fl", "1", b"initial model")
    with pytest.raises(Crash):
        await aggregator(client, gql, crash_in=3, after_upload=True)
    first = await db.rounds.find_one({"number": 3})
    final = await aggregator(client, gql, resume_at=2)
    assert sorted(await db.rounds.distinct("number")) == [1, 2, 3, 4, 5]
    assert await db.rounds.find_one({"number": 3}) == first  # not written again
    np.testing.assert_allclose(final, uninterrupted())
