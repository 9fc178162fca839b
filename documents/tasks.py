"""Stopping a background task for sure."""

import asyncio
import logging

log = logging.getLogger("flrepo.tasks")

RECANCEL_EVERY_S = 1.0


async def cancel_and_wait(task: asyncio.Task, every_s: float = RECANCEL_EVERY_S) -> None:
    """Cancel `task` and wait until it has ended; raise what it raised, unless cancelled.

    A cancellation can be lost: on Python 3.11, `asyncio.wait_for` (which the driver waits
    with) returns its result when it is cancelled just as that result arrives, and the task
    goes on. So the task is cancelled again every `every_s` seconds until it ends, instead
    of being waited for forever.
    """
    task.cancel()
    while not (await asyncio.wait([task], timeout=every_s))[0]:
        log.warning("%s went on after it was cancelled; cancelling it again", task.get_name())
        task.cancel()
    if not task.cancelled():
        task.result()
