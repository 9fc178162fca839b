"""Listings follow the order in which the database received documents, whatever the ids say."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from flrepo.documents import ordering
from flrepo.operations import models, strategies
from flrepo.operations.access import SCOPES, Caller, acting_as


@pytest.fixture(autouse=True)
def every_scope():
    """These tests call the resolvers directly, as a caller holding every scope."""
    with acting_as(Caller("tests", frozenset(SCOPES), token=True)):
        yield


@pytest.fixture
def ids_from_slower_clocks(monkeypatch) -> None:
    """Each new id made as if by a replica whose clock is a minute further behind."""
    start = datetime.now(UTC)

    def made() -> Iterator[ObjectId]:
        k = 0
        while True:
            k += 1
            yield ObjectId.from_datetime(start - timedelta(minutes=k))

    ids = made()
    monkeypatch.setattr(ordering, "ObjectId", lambda: next(ids))


async def test_listing_is_in_order_of_arrival_not_of_ids(app, db, ids_from_slower_clocks):
    for name in ("first", "second", "third"):
        await strategies.create_strategy(name, None, None)
        await asyncio.sleep(0.005)  # the database's clock counts milliseconds
    stored = await db.strategies.find().sort("_id", 1).to_list()
    assert [s["strategy_name"] for s in stored] == ["third", "second", "first"]
    listed = await strategies.list_strategies()
    assert [s.strategy_name for s in listed] == ["first", "second", "third"]
    assert [s.strategy_name for s in await strategies.list_strategies(limit=1, offset=1)] == [
        "second"
    ]


async def test_documents_of_the_original_service_list_first_in_id_order(app, db):
    await strategies.create_strategy("ours", None, None)
    for name in ("old-a", "old-b"):  # written without a time, ids newer than ours
        await db.strategies.insert_one({"strategy_name": name, "meta": None})
    listed = [s.strategy_name for s in await strategies.list_strategies()]
    assert listed == ["old-a", "old-b", "ours"]


async def test_model_listing_filtered_by_training_keeps_the_order(app, ids_from_slower_clocks):
    for version in ("1", "2", "3"):
        await models.create_model("m", version, None)
        await asyncio.sleep(0.005)
    listed = await models.list_models(trained=False)
    assert [m.model_version for m in listed] == ["1", "2", "3"]
