"""Listing order: the time the database assigned on insert, then `_id`.

The database's clock, not the API process's, decides, so the order holds with several
server replicas. Documents written by the original service lack the time and list first,
in `_id` order.
"""

from typing import Any

from beanie import Document
from beanie.odm.utils.dump import get_dict
from bson import ObjectId
from pymongo import ASCENDING

CREATED_AT = "created_at"
ORDER: list[tuple[str, Any]] = [(CREATED_AT, ASCENDING), ("_id", ASCENDING)]


async def insert_stamped(doc: Document, extra: dict[str, Any] | None = None) -> None:
    """Insert `doc` with the database's current time in `created_at` (one write), and the
    fields of `extra` that the document class does not show (what the indexes need).

    Raises DuplicateKeyError as an insert would.
    """
    body = get_dict(doc, to_db=True, keep_nulls=doc.get_settings().keep_nulls)
    oid = body.pop("_id", None) or ObjectId()
    await doc.get_pymongo_collection().update_one(
        {"_id": oid},
        {"$setOnInsert": {**body, **(extra or {})}, "$currentDate": {CREATED_AT: True}},
        upsert=True,
    )
    doc.id = oid
