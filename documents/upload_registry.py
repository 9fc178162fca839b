"""The one registry of uploads in progress, each with one lease that keeps its bytes.

Every upload being received, resumable (tus) or one-shot (PUT, GraphQL), is one document of
the registry collection in the grid database, its `_id` the id its file will have; its bytes
so far are `fs.chunks` with that `files_id`, and its `fs.files` document is written last.
The document's `expires` is the upload's lease, renewed as bytes arrive: while it lies ahead
the sweep leaves the upload alone; once it has passed, the sweep removes the upload and its
bytes (unless they became a file). The request writing an upload also holds `lock` until
`lockedUntil` (renewed with the lease), so that two requests never write one upload at once.

A one-shot upload's document has no `length`: it is no resumable upload, and tus never
finds it. A resumable upload's document has the id tus knows it by, `tusId` (128 random
bits: none can be guessed from another), and its `owner`, the caller that created it, whose
unfinished uploads are counted here so that every replica sees the same count.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from flrepo.documents.errors import TooManyRequests
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

# The name it had when it held resumable uploads alone, kept so that uploads in progress
# survive an upgrade and servers of both versions see each other's uploads.
COLLECTION = "resumable_uploads"
# The previous version claimed its one-shot uploads here, renewing each claim every minute;
# a claim renewed within LEGACY_CLAIM_TTL is a running upload of a server not yet upgraded.
LEGACY_CLAIMS = "fs.uploads"
LEGACY_CLAIM_TTL = timedelta(seconds=600)
ONE_SHOT_LEASE = timedelta(seconds=600)  # a one-shot upload idle this long is abandoned
LOCK = timedelta(seconds=60)  # a request that made no progress for this long loses its lock
FULL_RETRY_S = 60  # a caller with too many unfinished uploads is told to wait this long


def now() -> datetime:
    # MongoDB keeps milliseconds; so do we, so that what we compare is what is stored
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _unlocked(at: datetime) -> dict[str, Any]:
    return {"$or": [{"lockedUntil": None}, {"lockedUntil": {"$lt": at}}]}


class Lease:
    """One request's hold on one upload: `renew` it as bytes arrive, `release` it at the end.

    `lost` is the error to raise once the upload turns out to be no longer this request's
    (its lease ran out and the sweep removed it, or another request took it over).
    """

    def __init__(
        self,
        collection: AsyncCollection,
        oid: ObjectId,
        token: str,
        keep_for: timedelta,
        lost: Callable[[], Exception],
    ) -> None:
        self.collection = collection
        self.oid = oid
        self.token = token
        self.keep_for = keep_for
        self.lost = lost

    async def renew(self, fields: dict[str, Any] | None = None) -> None:
        """Set `fields` and renew the lease and the lock, if the upload is still ours."""
        t = now()
        update = {**(fields or {}), "lockedUntil": t + LOCK, "expires": t + self.keep_for}
        done = await self.collection.update_one(
            {"_id": self.oid, "lock": self.token}, {"$set": update}
        )
        if not done.matched_count:
            raise self.lost()

    async def release(self) -> None:
        """Give up the lock (the lease runs on: the upload stays until it expires)."""
        await self.collection.update_one(
            {"_id": self.oid, "lock": self.token}, {"$unset": {"lock": "", "lockedUntil": ""}}
        )


class UploadRegistry:
    """The registry collection of one grid database, indexed by tus id and by owner."""

    def __init__(self, grid: AsyncDatabase) -> None:
        self.collection = grid[COLLECTION]
        self.legacy_claims = grid[LEGACY_CLAIMS]
        self.indexed = False

    async def create_indexes(self) -> None:
        """The tus id, unique where there is one; the owner, for counting its uploads.
        Created with the first resumable upload, so that a repository that has none has no
        registry collection either (nothing for a dump to hold)."""
        await self.collection.create_index("tusId", unique=True, sparse=True)
        await self.collection.create_index([("owner", ASCENDING), ("expires", ASCENDING)])
        self.indexed = True

    async def add(self, doc: dict[str, Any], max_count: int, max_bytes: int) -> None:
        """Register a resumable upload (nobody writes it yet), unless its owner would then
        have more than `max_count` unfinished uploads, or more than `max_bytes` of them.

        The upload is registered first and counted after, so that two replicas registering
        at once cannot both slip under the limit: one past it removes its own upload.
        """
        if not self.indexed:
            await self.create_indexes()
        await self.collection.insert_one(doc)
        count, reserved = await self.unfinished(doc["owner"])
        if count > max_count or reserved > max_bytes:
            await self.collection.delete_one({"_id": doc["_id"]})
            what = f"{max_count} uploads" if count > max_count else f"{max_bytes} bytes"
            raise TooManyRequests(
                f"this caller's unfinished resumable uploads would exceed {what}; "
                "finish or delete some first",
                FULL_RETRY_S,
            )

    async def unfinished(self, owner: str) -> tuple[int, int]:
        """How many resumable uploads `owner` has that are neither attached nor expired, and
        the sum of their lengths."""
        match = {
            "owner": owner,
            "expires": {"$gt": now()},
            "length": {"$exists": True},
            "fileId": None,
        }
        group = {"_id": None, "count": {"$sum": 1}, "bytes": {"$sum": "$length"}}
        cursor = await self.collection.aggregate([{"$match": match}, {"$group": group}])
        totals = await cursor.to_list()
        return (totals[0]["count"], totals[0]["bytes"]) if totals else (0, 0)

    async def begin_one_shot(self, oid: ObjectId, lost: Callable[[], Exception]) -> Lease:
        """Register a one-shot upload, locked by the request that sends it."""
        t, token = now(), uuid.uuid4().hex
        lease = Lease(self.collection, oid, token, ONE_SHOT_LEASE, lost)
        await self.collection.insert_one(
            {
                "_id": oid,
                "created": t,
                "expires": t + ONE_SHOT_LEASE,
                "lock": token,
                "lockedUntil": t + LOCK,
            }
        )
        return lease

    async def take(
        self, query: dict[str, Any], keep_for: timedelta, lost: Callable[[], Exception]
    ) -> tuple[dict[str, Any], Lease] | None:
        """Lock the upload matching `query` unless another request holds it; its document
        and the lease, or None."""
        t, token = now(), uuid.uuid4().hex
        doc = await self.collection.find_one_and_update(
            {**query, **_unlocked(t)},
            {"$set": {"lock": token, "lockedUntil": t + LOCK}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        return doc, Lease(self.collection, doc["_id"], token, keep_for, lost)

    async def resumable(self, tus_id: str) -> dict[str, Any] | None:
        """The document of a resumable upload that has not expired, by its tus id (or by
        its `_id`, for an upload an earlier version began, which has no tus id)."""
        query: dict[str, Any] = {"expires": {"$gt": now()}, "length": {"$exists": True}}
        if ObjectId.is_valid(tus_id) and len(tus_id) == 24:
            query |= {"_id": ObjectId(tus_id), "tusId": {"$exists": False}}
        else:
            query["tusId"] = tus_id
        return await self.collection.find_one(query)

    async def document(self, oid: ObjectId) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": oid})

    async def update(self, oid: ObjectId, fields: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": oid}, {"$set": fields})

    async def remove(self, oid: ObjectId, expired_before: datetime | None = None) -> bool:
        """Forget the upload (only if its lease ran out before `expired_before`, if given:
        a request may renew it meanwhile); whether it was there to forget."""
        query: dict[str, Any] = {"_id": oid}
        if expired_before is not None:
            query["expires"] = {"$lt": expired_before}
        return bool((await self.collection.delete_one(query)).deleted_count)

    async def expired(self, at: datetime) -> list[dict[str, Any]]:
        """The uploads whose lease ran out before `at`."""
        projection = {"length": 1, "offset": 1, "fileId": 1}
        return await self.collection.find({"expires": {"$lt": at}}, projection).to_list()

    async def registered(self, at: datetime) -> set[Any]:
        """Ids of every upload registered (its lease run out or not), and of the uploads a
        server of the previous version claimed within LEGACY_CLAIM_TTL before `at`."""
        ids = {doc["_id"] async for doc in self.collection.find({}, {"_id": 1})}
        since = at - LEGACY_CLAIM_TTL
        async for claim in self.legacy_claims.find({"claimed": {"$gt": since}}, {"_id": 1}):
            ids.add(claim["_id"])
        return ids

    async def drop_stale_legacy_claims(self, at: datetime) -> None:
        """Delete the previous version's claims not renewed within LEGACY_CLAIM_TTL: their
        uploads were abandoned, and their chunks, if any, are orphans now."""
        stale = {"$or": [{"claimed": {"$lte": at - LEGACY_CLAIM_TTL}}, {"claimed": None}]}
        await self.legacy_claims.delete_many(stale)
