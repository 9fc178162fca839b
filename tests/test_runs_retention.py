"""Round retention: `all` keeps every round's weights; `last:N` keeps those of the last N
rounds and of the best one, and deletes the others' files (their metrics and participants
stay)."""

import pytest
from flrepo.documents.integrity import Repository, check
from flrepo.operations.retention import Retention, apply_to_every_run
from helpers import GraphQL, running_app
from pydantic import ValidationError
from runs_client import create_model, participant, record_round, sha256, start_run

from flrepo.settings import Settings

KEY = ("ret", "1", "run")
ACCURACY = [0.5, 0.9, 0.6, 0.7, 0.65, 0.8]  # round 2 is the best


async def six_rounds(client, objective=None) -> None:
    gql = GraphQL(client)
    await create_model(gql, "ret", "1", b"model")
    await start_run(gql, KEY, objective=objective)
    for number, accuracy in enumerate(ACCURACY, start=1):
        metrics = {"accuracy": accuracy, "loss": 1 - accuracy}
        clients = [participant("c", 3, b"u%d" % number)]
        reply = await record_round(client, KEY, number, b"w%d" % number, b"s", metrics, clients)
        assert "errors" not in reply, reply


async def kept(db, grid) -> list[int]:
    """The rounds whose weights are kept; every round's metrics and participants stay."""
    rounds = await db.rounds.find({}).sort("number").to_list()
    assert [r["number"] for r in rounds] == [1, 2, 3, 4, 5, 6]
    assert all(r["metrics"] and r["participants"] and r["weights_sha256"] for r in rounds)
    names = {d["filename"] async for d in grid["fs.files"].find({}, {"filename": 1})}
    kept = [r["number"] for r in rounds if r["weights_id"]]
    assert {n for n in names if n.endswith("/weights")} == {
        f"rounds/ret/1/run/{n}/weights" for n in kept
    }
    assert [r["number"] for r in rounds if r["aggregator_state_id"]] == kept
    return kept


async def test_all_rounds_are_kept_by_default(client, db, grid):
    await six_rounds(client)
    assert await kept(db, grid) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("best", "objective", "expected"),
    [
        (None, {"metric": "accuracy", "direction": "MAX"}, [2, 5, 6]),
        ("loss:max", {"metric": "accuracy", "direction": "MAX"}, [1, 5, 6]),  # setting wins
        (None, None, [5, 6]),  # no objective: the last two only
    ],
)
async def test_last_n_keeps_the_last_rounds_and_the_best(
    settings, mongodb_url, db, grid, best, objective, expected
):
    changed = settings.model_copy(
        update={"round_retention": "last:2", "round_retention_best": best}
    )
    async with running_app(changed, mongodb_url) as client:
        await six_rounds(client, objective)
        assert await kept(db, grid) == expected
        forgotten = await GraphQL(client).data(
            '{ trainingRun(modelName: "ret", modelVersion: "1", trainingId: "run") { '
            "rounds { number weights { id } weightsSha256 } } }"
        )
        first = forgotten["trainingRun"]["rounds"][2]
        assert first == {"number": 3, "weights": None, "weightsSha256": sha256(b"w3")}
    report = await check(Repository(db, grid), grace_s=0, repair=False)
    assert report.findings == []


def test_retention_settings_are_checked():
    assert Retention.parse("last:3", "loss:min").keep_last == 3
    assert Retention.parse("all").keep_last is None
    for bad in ("last:0", "last:", "some", "last:-1"):
        with pytest.raises((ValueError, ValidationError)):
            Settings(round_retention=bad)
    with pytest.raises(ValidationError):
        Settings(round_retention_best="loss")


async def test_the_sweep_applies_a_policy_set_since_the_last_round(app, client, db, grid):
    await six_rounds(client, {"metric": "loss", "direction": "MIN"})
    assert await kept(db, grid) == [1, 2, 3, 4, 5, 6]
    await apply_to_every_run(app.state.files, Retention.parse("last:1"))
    assert await kept(db, grid) == [2, 6]  # the last, and the best by the run's objective
    await apply_to_every_run(app.state.files, Retention.parse("last:1"))  # again: no change
    assert await kept(db, grid) == [2, 6]
