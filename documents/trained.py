"""Whether a model has training results: the flag `trained` on the model, kept at write time.

`models(trained:)` then is one indexed query instead of a join per model. Writers settle
the flag after their own write: set it to what the results say, read the results again,
and repeat until the read agrees with what was set. Whatever the interleaving of creates
and deletes, the last writer to settle reads after every write before it, so the flag ends
true exactly when a result exists.
"""

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

TRAINED = "trained"
SETTLE_ROUNDS = 8  # each round follows a concurrent write that changed the answer


async def has_results(db: AsyncDatabase, model_name: Any, model_version: Any) -> bool:
    key = {"model_name": model_name, "model_version": model_version}
    return await db["results"].find_one(key, {"_id": 1}) is not None


async def settle_trained(db: AsyncDatabase, model_name: Any, model_version: Any) -> None:
    """Set the model's flag to whether results of it exist (no-op if there is no model)."""
    key = {"model_name": model_name, "model_version": model_version}
    trained = await has_results(db, model_name, model_version)
    for _ in range(SETTLE_ROUNDS):
        # only where it changes: an update that changes nothing is no event to subscribers
        await db["models"].update_many(
            {**key, TRAINED: {"$ne": trained}}, {"$set": {TRAINED: trained}}
        )
        now = await has_results(db, model_name, model_version)
        if now == trained:
            return
        trained = now
