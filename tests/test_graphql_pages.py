"""Listings page by 100 unless told otherwise; a null limit is the default, not 'everything'."""

from datetime import UTC, datetime, timedelta

import pytest
from helpers import GraphQL

N = 150


def documents(kind: str) -> tuple[str, list[dict]]:
    """The collection of a listing and N documents for it."""
    if kind == "models":
        return "models", [{"model_name": f"m{i:03}", "model_version": "1"} for i in range(N)]
    if kind == "trainingResults":
        return "results", [
            {"model_name": "m", "model_version": "1", "training_id": f"t{i:03}"} for i in range(N)
        ]
    if kind == "strategies":
        return "strategies", [{"strategy_name": f"s{i:03}"} for i in range(N)]
    if kind == "transformations":
        return "transformations", [{"id": f"x{i:03}"} for i in range(N)]
    start = datetime(2024, 1, 1)
    return "fs.files", [
        {
            "filename": f"strategy/s{i:03}",
            "length": 0,
            "chunkSize": 261120,
            "uploadDate": start + timedelta(seconds=N - i),  # inserted newest first
        }
        for i in range(N)
    ]


KEY = {
    "models": "modelName",
    "trainingResults": "trainingId",
    "strategies": "strategyName",
    "transformations": "id",
    "files": "filename",
}


@pytest.mark.parametrize("kind", KEY)
async def test_default_page_is_100(gql: GraphQL, db, grid, kind):
    collection, docs = documents(kind)
    await (grid if kind == "files" else db)[collection].insert_many(docs)
    key = KEY[kind]

    async def listing(args: str = "") -> list[str]:
        query = f"{{ {kind}{args} {{ {key} }} }}"
        return [row[key] for row in (await gql.data(query))[kind]]

    everything = await listing("(limit: 1000)")
    assert len(everything) == N
    if kind == "files":
        assert everything == sorted(everything, reverse=True)  # oldest upload first
    else:
        assert everything == sorted(everything)  # insertion order
    assert await listing() == everything[:100]
    assert await listing("(limit: null)") == everything[:100]
    assert await listing("(offset: 120)") == everything[120:]
    assert await listing("(limit: 10, offset: 145)") == everything[145:]
    assert await listing("(offset: 1000)") == []


async def test_upload_dates_are_iso_8601(gql: GraphQL, grid):
    when = datetime(2023, 5, 17, 8, 30, 15, 123000)
    await grid["fs.files"].insert_one(
        {"filename": "model/m/1", "length": 3, "chunkSize": 261120, "uploadDate": when}
    )
    (file,) = (await gql.data("{ files { uploadDate } }"))["files"]
    assert datetime.fromisoformat(file["uploadDate"]) == when.replace(tzinfo=UTC)  # UTC, aware
