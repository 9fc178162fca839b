"""The change feed's fan-out: a subscriber that falls behind is dropped, the others carry on."""

import asyncio

import pytest
from flrepo.documents.changes import QUEUE_SIZE, Change, ChangeFeed, ChangeKind, SubscriberTooSlow


def change(n: int) -> Change:
    return Change("results", ChangeKind.CREATED, {"training_id": str(n)}, True, None)


async def test_a_subscriber_too_far_behind_is_dropped(db):
    feed = ChangeFeed(db)
    async with feed.subscribe() as slow, feed.subscribe() as keeping_up:
        for n in range(QUEUE_SIZE):
            feed.publish(change(n))
        received = [keeping_up.queue.get_nowait() for _ in range(QUEUE_SIZE)]
        assert [c.document["training_id"] for c in received] == [str(n) for n in range(QUEUE_SIZE)]

        feed.publish(change(QUEUE_SIZE))  # one more than the slow one can hold
        assert feed.subscribers == {keeping_up}
        with pytest.raises(SubscriberTooSlow) as dropped:
            async for _ in slow:
                pass
        assert dropped.value.code == "SUBSCRIBER_TOO_SLOW"
        following = await asyncio.wait_for(anext(aiter(keeping_up)), 1)
        assert following.document["training_id"] == str(QUEUE_SIZE)
    assert feed.subscribers == set()
