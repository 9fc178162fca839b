"""Bring documents written without this server (restores, the original service, older
versions) up to what the indexes need: the numeric copy of metrics and the `trained` flag.

Bounded batches, idempotent; run at startup and by `flrepo check --repair`.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from flrepo.documents.ranks import NUMERIC, RANKS, rank
from flrepo.documents.trained import TRAINED, settle_trained
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)
BATCH = 500
ROWS_GRACE = timedelta(minutes=1)  # rows this young may belong to a result being inserted


async def backfill(db: AsyncDatabase, batch: int = BATCH) -> int:
    """Rank the unranked results and flag the unflagged models; how many were updated."""
    done = 0
    # one cursor, read a batch at a time: a query per batch would scan the collection again
    # each time for the next unranked results
    pending: list[dict[str, Any]] = []
    async for doc in db["results"].find({NUMERIC: {"$exists": False}}, batch_size=batch):
        pending.append(doc)
        if len(pending) == batch:
            await rank(db, pending)
            done += len(pending)
            pending = []
    if pending:
        await rank(db, pending)
        done += len(pending)
    while models := (
        await db["models"]
        .find({TRAINED: {"$exists": False}}, {"model_name": 1, "model_version": 1})
        .limit(batch)
        .to_list()
    ):
        for model in models:
            await settle_trained(db, model.get("model_name"), model.get("model_version"))
            # a model without a name has no results; flag it so the loop ends
            await db["models"].update_one(
                {"_id": model["_id"], TRAINED: {"$exists": False}}, {"$set": {TRAINED: False}}
            )
        done += len(models)
    if done:
        log.info("backfilled %d documents for the listing indexes", done)
    return done


async def rebuild_ranks(db: AsyncDatabase, batch: int = BATCH) -> tuple[int, int]:
    """Rank every result again and drop the rows of results that are gone.

    Returns (results ranked, rows dropped). For repairs: the startup backfill only ranks
    results not yet marked, and cannot see rows a crash left behind.
    """
    ranked = dropped = 0
    after: Any = None
    while True:
        query = {} if after is None else {"_id": {"$gt": after}}
        docs = await db["results"].find(query).sort("_id", 1).limit(batch).to_list()
        if not docs:
            break
        await db[RANKS].delete_many({"rid": {"$in": [d["_id"] for d in docs]}})
        await rank(db, docs)
        ranked += len(docs)
        after = docs[-1]["_id"]
    after = None
    while True:
        query = {} if after is None else {"rid": {"$gt": after}}
        rows = await db[RANKS].find(query, {"rid": 1}).sort("rid", 1).limit(batch).to_list()
        if not rows:
            break
        rids = list({row["rid"] for row in rows})
        found = await db["results"].find({"_id": {"$in": rids}}, {"_id": 1}).to_list()
        alive = {doc["_id"] for doc in found}
        gone = [rid for rid in rids if rid not in alive]
        if gone:  # not rows of a result being created (written just before it)
            settled = ObjectId.from_datetime(datetime.now(UTC) - ROWS_GRACE)
            query = {"rid": {"$in": gone}, "_id": {"$lt": settled}}
            dropped += (await db[RANKS].delete_many(query)).deleted_count
        after = rows[-1]["rid"]
    return ranked, dropped
