"""What the per-collection resolvers share: inserts, updates, file attachment, deletes."""

from typing import Any, TypeVar

from beanie import Document
from flrepo.documents.errors import AlreadyExists, NotFound
from flrepo.documents.files import FileSource, FileStore
from flrepo.graph.validation import check_document_size, check_page, check_storable
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

D = TypeVar("D", bound=Document)


async def find_page(cls: type[D], query: dict[str, Any], limit: int | None, offset: int) -> list[D]:
    """Documents matching `query` in insertion order, one page of them."""
    check_page(limit, offset)
    if limit == 0:
        return []
    cursor = cls.get_pymongo_collection().find(query).sort("_id", 1).skip(offset)
    docs = await cursor.limit(limit or 0).to_list()
    return [cls.model_validate(doc) for doc in docs]


def check_fields(fields: dict[str, Any], what: str) -> None:
    """What a write stores is valid BSON, JSON again when read, and one document's size."""
    for name, value in fields.items():
        check_storable(value, name.replace("_", " "))
    check_document_size(fields, what)


async def insert_new(doc: D, what: str) -> D:
    """Insert; the unique index, not a prior check, decides whether it already exists."""
    check_fields(doc.model_dump(by_alias=True, exclude={"id"}), what)
    try:
        await doc.insert()
    except DuplicateKeyError:
        raise AlreadyExists(f"{what} already exists") from None
    return doc


async def update_fields(
    cls: type[D], query: dict[str, Any], fields: dict[str, Any], what: str
) -> D:
    """Set `fields` on the one document matching `query`; NotFound if there is none."""
    check_fields(fields, what)
    doc = await cls.get_pymongo_collection().find_one_and_update(
        query, {"$set": fields}, return_document=ReturnDocument.AFTER
    )
    if doc is None:
        raise NotFound(f"{what} does not exist")
    return cls.model_validate(doc)


async def attach_file(
    files: FileStore,
    cls: type[D],
    query: dict[str, Any],
    id_field: str,
    filename: str,
    source: FileSource,
    what: str,
    extra: dict[str, Any] | None = None,
) -> D:
    """Store a new file, point the document at it, then delete the file it replaces.

    If the upload fails, the document keeps its old file and the partial upload is removed.
    """
    collection = cls.get_pymongo_collection()
    if await collection.find_one(query, {"_id": 1}) is None:
        raise NotFound(f"{what} does not exist")
    stored = await files.put(filename, source, extra)
    while True:
        old = await collection.find_one(query)
        if old is None:  # deleted while the upload ran
            await files.delete(stored.id)
            raise NotFound(f"{what} does not exist")
        # Swap only if no other upload swapped first, so that concurrent uploads each delete
        # the file they replaced. (find_one_and_update's pre-image is not enough: SecantusDB
        # can hand the same pre-image to two concurrent calls, orphaning a file.)
        swapped = await collection.update_one(
            {"_id": old["_id"], id_field: old.get(id_field)}, {"$set": {id_field: stored.id}}
        )
        if swapped.matched_count:
            break
    await files.delete(old.get(id_field))
    old[id_field] = stored.id
    return cls.model_validate(old)


async def delete_with_file(
    files: FileStore, cls: type[Document], query: dict[str, Any], id_field: str, what: str
) -> bool:
    """Delete the document and its file (a missing or dangling file is fine)."""
    doc = await cls.get_pymongo_collection().find_one_and_delete(query)
    if doc is None:
        raise NotFound(f"{what} does not exist")
    await files.delete(doc.get(id_field))
    return True
