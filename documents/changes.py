"""Changes to the metadata collections, from a MongoDB change stream, fanned out in process.

One `ChangeFeed` per process watches the metadata database. Every write reaches it, whichever
process made it, because the stream is the database's own record of changes. The feed keeps
the last resume token; when the stream fails it reopens with `resume_after`, so no change is
lost while it was away (as long as the database still holds it).

Each subscriber has a bounded queue. A subscriber that falls `QUEUE_SIZE` changes behind is
dropped: its iteration ends with `SubscriberTooSlow`, and the others are not held up.
"""

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flrepo.documents.aliases import AliasMove
from flrepo.documents.errors import RepositoryError
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.ranks import NUMERIC
from flrepo.documents.runs import Round
from flrepo.documents.strategy import Strategy
from flrepo.documents.tasks import cancel_and_wait
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

log = logging.getLogger("flrepo.changes")

QUEUE_SIZE = 1000
RETRY_MIN_S = 0.2
RETRY_MAX_S = 5.0

# The file-id field of each watched collection: an update of it means the file was replaced.
FILE_FIELDS: dict[str, str | None] = {
    document.Settings.name: document.FILE_FIELD
    for document in (MLModel, TrainingResult, Strategy, Transformation, Service, Inferencer)
}
# Rounds as they are recorded, and the moves of model aliases (a history: inserts only).
FILE_FIELDS |= {Round.Settings.name: Round.FILE_FIELD, AliasMove.Settings.name: None}
OPERATIONS = ["insert", "update", "replace", "delete"]


class ChangeKind(enum.Enum):
    CREATED = "created"
    META_UPDATED = "meta updated"
    FILE_REPLACED = "file replaced"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One change of one document: what happened, and the document after (or before a delete)."""

    collection: str
    kind: ChangeKind
    document: dict[str, Any]  # after the change; the pre-image for a delete ({} if unknown)
    exists: bool  # False for a delete, or when the document was gone by the time of lookup
    at: datetime | None


class SubscriberTooSlow(RepositoryError):
    """The subscriber fell too far behind and was dropped."""

    code = "SUBSCRIBER_TOO_SLOW"


def _kind(event: dict[str, Any]) -> ChangeKind:
    operation = event["operationType"]
    if operation == "insert":
        return ChangeKind.CREATED
    if operation == "delete":
        return ChangeKind.DELETED
    updated = (event.get("updateDescription") or {}).get("updatedFields") or {}
    file_field = FILE_FIELDS.get(event["ns"]["coll"])
    return ChangeKind.FILE_REPLACED if file_field in updated else ChangeKind.META_UPDATED


def to_change(event: dict[str, Any]) -> Change:
    """A change stream event as a Change."""
    after = event.get("fullDocument")
    before = event.get("fullDocumentBeforeChange")
    document = after if after is not None else (before or {})
    return Change(
        collection=event["ns"]["coll"],
        kind=_kind(event),
        document=document,
        exists=after is not None,
        at=event.get("wallTime"),
    )


class Subscriber:
    """One consumer's queue of changes; None in the queue means it was dropped."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(QUEUE_SIZE + 1)

    def drop(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Change]:
        while (change := await self.queue.get()) is not None:
            yield change
        raise SubscriberTooSlow("fell too far behind the change stream")


class ChangeFeed:
    """Watches `db`'s metadata collections and hands every change to every subscriber."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.db = db
        self.resume_token: dict[str, Any] | None = None
        self.subscribers: set[Subscriber] = set()
        self._stream: AsyncChangeStream | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Open the stream now (so that every later write is seen), then follow it."""
        try:
            await self._enable_pre_images()
        except PyMongoError as exc:
            log.warning("deleted documents will not be named in change events: %s", exc)
        with contextlib.suppress(PyMongoError):
            self._stream = await self._open()
        self._task = asyncio.create_task(self._follow(), name="change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._close()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self.subscribers.discard(subscriber)

    def publish(self, change: Change) -> None:
        for subscriber in list(self.subscribers):
            if subscriber.queue.qsize() < QUEUE_SIZE:
                subscriber.queue.put_nowait(change)
            else:
                log.warning("dropping a subscriber %d changes behind", QUEUE_SIZE)
                self.subscribers.discard(subscriber)
                subscriber.drop()

    async def _enable_pre_images(self) -> None:
        """Deletes carry the deleted document only where pre-images are on (MongoDB 6.0+)."""
        for name in FILE_FIELDS:
            await self.db.command(
                {"collMod": name, "changeStreamPreAndPostImages": {"enabled": True}}
            )

    async def _open(self) -> AsyncChangeStream:
        pipeline = [
            {
                "$match": {
                    "ns.coll": {"$in": list(FILE_FIELDS)},
                    "operationType": {"$in": OPERATIONS},
                    # a result marked ranked (or unmarked) by the background backfill:
                    # nothing a client sees has changed
                    f"updateDescription.updatedFields.{NUMERIC}": {"$exists": False},
                    "updateDescription.removedFields": {"$ne": NUMERIC},
                }
            }
        ]
        return await self.db.watch(
            pipeline,
            full_document="updateLookup",
            full_document_before_change="whenAvailable",
            resume_after=self.resume_token,
        )

    async def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(PyMongoError):
                await stream.close()

    async def _follow(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                if self._stream is None:
                    self._stream = await self._open()
                    log.info("change stream open%s", " (resumed)" if self.resume_token else "")
                async for event in self._stream:
                    self.resume_token = self._stream.resume_token
                    self.publish(to_change(event))
                    delay = RETRY_MIN_S
                # The stream ended (the database was dropped): start over from now.
                self.resume_token = None
                await self._close()
            except OperationFailure as exc:
                # PyMongo resumes by itself after resumable errors: this one is not (history
                # lost, token refused), so the stream can only start over from now.
                log.error("change stream failed; continuing from now: %s", exc)
                self.resume_token = None
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except PyMongoError as exc:
                log.warning("change stream interrupted, resuming: %s", exc)
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
