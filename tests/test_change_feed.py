"""The change feed: a subscriber that falls behind is dropped, the others carry on; stopping
it ends it, even when a cancellation is lost on the way."""

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from flrepo.documents.changes import QUEUE_SIZE, Change, ChangeFeed, ChangeKind, SubscriberTooSlow
from flrepo.documents.tasks import cancel_and_wait


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


async def ends_within(job: Coroutine[Any, Any, None], seconds: float) -> None:
    """Run `job`; fail if it has not ended after `seconds` (without cancelling it: that could
    end it and hide the hang)."""
    task = asyncio.create_task(job)
    done, _ = await asyncio.wait([task], timeout=seconds)
    assert task in done, f"still running after {seconds} s"
    task.result()


class StubbornStream:
    """A change stream that lets one cancellation go by, as the driver's waits may on
    Python 3.11 (`asyncio.wait_for` returns its result if cancelled just as it arrives)."""

    resume_token = None

    def __init__(self) -> None:
        self.let_go = 0
        self.closed = False

    def __aiter__(self) -> "StubbornStream":
        return self

    async def __anext__(self) -> dict:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if self.let_go:
                    raise
                self.let_go += 1

    async def close(self) -> None:
        self.closed = True


async def test_stopping_ends_the_feed_though_a_cancellation_is_lost(db, monkeypatch):
    feed = ChangeFeed(db)
    stream = StubbornStream()

    async def open_stream() -> StubbornStream:
        return stream

    monkeypatch.setattr(feed, "_open", open_stream)
    await feed.start()
    await asyncio.sleep(0.05)  # the feed waits in the stream
    await ends_within(feed.stop(), 10)
    assert stream.let_go == 1
    assert stream.closed


async def test_cancel_and_wait_cancels_again_and_raises_what_the_task_raised(caplog):
    stream = StubbornStream()
    task = asyncio.create_task(anext(stream), name="the stubborn task")
    await asyncio.sleep(0)
    await ends_within(cancel_and_wait(task, every_s=0.05), 10)
    assert task.cancelled() and stream.let_go == 1
    assert "the stubborn task went on after it was cancelled" in caplog.text

    async def fails() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise ValueError("broke while stopping") from None

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broke while stopping"):
        await cancel_and_wait(task)
