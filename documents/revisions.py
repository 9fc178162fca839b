"""Files a document held before a write replaced them: one `file_revisions` document each.

The documents that own files keep the original service's layout; their earlier files are
recorded beside them, in a collection of their own, and stay in GridFS as they were.
A revision names its document by collection and key (the fields of its unique index).
"""

from datetime import datetime
from typing import Any

from beanie import Document
from bson import ObjectId
from flrepo.documents.files import FileStore, object_id
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.strategy import Strategy
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

REVISED: tuple[type[Document], ...] = (
    MLModel,
    TrainingResult,
    Strategy,
    Transformation,
    Service,
    Inferencer,
)
NEWEST_FIRST: list[tuple[str, Any]] = [("replaced_at", DESCENDING), ("_id", DESCENDING)]


def key_fields(cls: type[Document]) -> tuple[str, ...]:
    """The stored names of the fields of `cls`'s unique key, in the index's order."""
    for index in cls.Settings.indexes:  # type: ignore[attr-defined]
        if index.document.get("unique"):
            return tuple(index.document["key"])
    raise ValueError(f"{cls.__name__} has no unique key")


KEYS: dict[str, tuple[str, ...]] = {
    cls.Settings.name: key_fields(cls)  # type: ignore[attr-defined]
    for cls in REVISED
}


def key_of(collection: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The key of a stored document, always in the same field order (so that it matches)."""
    return {name: doc.get(name) for name in KEYS[collection]}


class FileRevision(Document):
    """A file a document held before a write replaced it."""

    collection: str  # the owner's collection
    key: dict[str, Any]  # the owner's key, as `key_of` gives it
    field: str  # the owner's file-id field
    file_id: str  # the GridFS id of the earlier file
    replaced_at: datetime  # the database's clock when it was replaced
    replaced_by: str  # the name of the caller that replaced it

    class Settings:
        name = "file_revisions"
        indexes = [
            IndexModel([("collection", ASCENDING), ("key", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("replaced_at", ASCENDING)]),
            IndexModel([("file_id", ASCENDING)]),
        ]


async def keep(
    revisions: AsyncCollection,
    files: FileStore,
    collection: str,
    old: dict[str, Any],
    field: str,
    by: str,
    session: AsyncClientSession | None = None,
) -> None:
    """Record the file `old` held in `field` as a revision, if it names a file that exists."""
    file_id = old.get(field)
    oid = object_id(file_id) if isinstance(file_id, str) else None
    if oid is None or not await files.files.find_one({"_id": oid}, {"_id": 1}, session=session):
        return
    body = {
        "collection": collection,
        "key": key_of(collection, old),
        "field": field,
        "file_id": file_id,
        "replaced_by": by,
    }
    # An upsert of a new id, to stamp the database's clock in the same write.
    await revisions.update_one(
        {"_id": ObjectId()},
        {"$setOnInsert": body, "$currentDate": {"replaced_at": True}},
        upsert=True,
        session=session,
    )


async def still_used(
    metadata: dict[str, AsyncCollection],
    revisions: AsyncCollection,
    revision: dict[str, Any],
    session: AsyncClientSession | None = None,
) -> bool:
    """Whether the file of `revision` (already removed) is its document's file again, or
    another revision's (as a write interrupted without transactions can leave it)."""
    owner = metadata[revision["collection"]]
    query = {**revision["key"], revision["field"]: revision["file_id"]}
    if await owner.find_one(query, {"_id": 1}, session=session):
        return True
    other = {"file_id": revision["file_id"], "_id": {"$ne": revision["_id"]}}
    return await revisions.find_one(other, {"_id": 1}, session=session) is not None


async def drop(
    metadata: dict[str, AsyncCollection],
    revisions: AsyncCollection,
    files: FileStore,
    revision: dict[str, Any],
    session: AsyncClientSession | None = None,
) -> bool:
    """Remove a revision and, unless something still uses it, its file (record first, so that
    a crash leaves at worst an unreferenced file for the orphan sweep). False if it was gone."""
    done = await revisions.delete_one({"_id": revision["_id"]}, session=session)
    if not done.deleted_count:
        return False
    if not await still_used(metadata, revisions, revision, session):
        await files.delete(revision["file_id"], session=session)
    return True


async def drop_all_of(
    metadata: dict[str, AsyncCollection],
    revisions: AsyncCollection,
    files: FileStore,
    collection: str,
    doc: dict[str, Any],
    session: AsyncClientSession | None = None,
) -> None:
    """Remove every revision of a deleted document, with their files."""
    query = {"collection": collection, "key": key_of(collection, doc)}
    async for revision in revisions.find(query, session=session):
        await drop(metadata, revisions, files, revision, session)
