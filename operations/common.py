"""What the per-collection operations share: inserts, updates, file attachment, deletes."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from beanie import Document, UpdateResponse
from bson import json_util
from flrepo.documents.errors import AlreadyExists, InvalidInput, NotFound
from flrepo.documents.files import FileSource, FileStore, StoredFile
from flrepo.documents.ordering import CREATED_AT, ORDER, insert_stamped
from flrepo.documents.revisions import REVISED, FileRevision, drop_all_of, keep
from flrepo.operations.access import current_caller
from flrepo.operations.cursors import FORGED, Page, after, check_first, decode, encode
from flrepo.operations.validation import (
    check_document_size,
    check_page,
    check_sha256,
    check_storable,
    clean_uploaded_name,
)
from flrepo.operations.window_ends import WindowEnds, read_in_time_order
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

D = TypeVar("D", bound=Document)


class Overtaken(Exception):
    """Another upload swapped the file between our read and our write: read again."""


ENDS = WindowEnds()  # of each list's walk (its database, collection and filter)
ORDER_FIELDS = [field for field, _ in ORDER]
LISTED = "listed"  # the cursor kind of listing order


async def listing(
    cls: type[D], query: dict[str, Any], parts: list[dict[str, Any]], skip: int, count: int
) -> list[dict[str, Any]]:
    """Documents `skip` to `skip + count` of the walk of `query` in listing order that `parts`
    (cursors.after) start, read up to the end of a window read before where one is kept.

    Each part is an index walk (listing_indexes: the filter's fields, then the order).
    """
    collection = cls.get_pymongo_collection()

    async def find(part: dict[str, Any], skip: int, limit: int) -> list[dict[str, Any]]:
        walk = collection.find({**query, **part}).sort(ORDER).skip(skip)
        return await walk.limit(limit).to_list()

    walk = (collection.database.name, collection.name, json_util.dumps(query))
    when = lambda doc: doc.get(CREATED_AT)  # noqa: E731
    return await read_in_time_order(ENDS, walk, find, when, CREATED_AT, parts, skip, count)


async def find_page(cls: type[D], query: dict[str, Any], limit: int | None, offset: int) -> list[D]:
    """Documents matching `query` in the order the database received them, one page of them."""
    check_page(limit, offset)
    if limit == 0:
        return []
    if limit is None:
        return await cls.find(query).sort(ORDER).skip(offset).to_list()
    return [cls.model_validate(doc) for doc in await listing(cls, query, [{}], offset, limit)]


def listing_cursor(doc: dict[str, Any]) -> str:
    return encode(LISTED, [doc.get(CREATED_AT), doc["_id"]])


async def find_connection(
    cls: type[D], query: dict[str, Any], first: int, cursor: str | None
) -> Page[D]:
    """`first` documents matching `query` in listing order, after the item `cursor` names."""
    check_first(first)
    start = [{}]
    if cursor is not None:
        key = decode(cursor, LISTED, 2)
        if not isinstance(key[0], dt.datetime | None):  # a time, or none (the original's)
            raise InvalidInput(FORGED)
        start = after(ORDER_FIELDS, key)
    docs = await listing(cls, query, start, 0, first + 1)
    edges = [(listing_cursor(doc), cls.model_validate(doc)) for doc in docs[:first]]
    return Page(edges, len(docs) > first)


def check_fields(fields: dict[str, Any], what: str) -> None:
    """What a write stores is valid BSON, JSON again when read, and one document's size."""
    for name, value in fields.items():
        check_storable(value, name.replace("_", " "))
    check_document_size(fields, what)


def beside_files(files: FileStore, cls: type[Document]) -> AsyncCollection:
    """`cls`'s collection through the file store's client, so that one transaction can span
    a document and its file (Beanie binds documents once per process; the two agree unless
    one process serves several repositories, as tests do)."""
    bound = cls.get_pymongo_collection()
    database = files.db.client.get_database(
        bound.database.name, write_concern=files.db.write_concern
    )
    return database[bound.name]


def revision_collections(files: FileStore) -> tuple[dict[str, AsyncCollection], AsyncCollection]:
    """The collections of the documents that own files, and `file_revisions`, by name and
    through the file store's client (for transactions)."""
    owners = {cls.get_collection_name(): beside_files(files, cls) for cls in REVISED}
    return owners, beside_files(files, FileRevision)


async def insert_new(doc: D, what: str, extra: dict[str, Any] | None = None) -> D:
    """Insert (with the index-only fields `extra`); the unique index, not a prior check,
    decides whether it already exists."""
    check_fields(doc.model_dump(by_alias=True, exclude={"id"}), what)
    try:
        await insert_stamped(doc, extra)
    except DuplicateKeyError:
        raise AlreadyExists(f"{what} already exists") from None
    return doc


async def update_fields(
    cls: type[D], query: dict[str, Any], fields: dict[str, Any], what: str
) -> D:
    """Set `fields` on the one document matching `query`; NotFound if there is none."""
    check_fields(fields, what)
    updated = await cls.find_one(query).update(
        {"$set": fields}, response_type=UpdateResponse.NEW_DOCUMENT
    )
    if updated is None:
        raise NotFound(f"{what} does not exist")
    return updated


@dataclass(frozen=True)
class FileTarget(Generic[D]):
    """Where an uploaded file goes: the document, its file-id field, the GridFS name."""

    cls: type[D]
    query: dict[str, Any]
    id_field: str
    filename: str
    what: str
    extra: dict[str, Any] = field(default_factory=dict)


async def check_target(target: FileTarget[D]) -> None:
    """NotFound unless the document a file is for exists."""
    if not await target.cls.find(target.query).limit(1).count():
        raise NotFound(f"{target.what} does not exist")


async def attach_file(
    files: FileStore, target: FileTarget[D], source: FileSource, sha256: str | None = None
) -> D:
    """Store a new file, point the document at it, then delete the file it replaces.

    If the upload fails, or its sha256 is not `sha256` (when given), the document keeps its
    old file and nothing of the new one is kept.
    """
    expected = check_sha256(sha256)
    await check_target(target)
    owner = current_caller().key  # whose share of the uploads at once this one counts in
    stored = await files.put(target.filename, source, target.extra or None, expected, owner)
    named = await files.set_uploaded_name(stored.id, clean_uploaded_name(source.filename))
    return await attach_stored(files, target, named or stored)


async def attach_stored(files: FileStore, target: FileTarget[D], stored: StoredFile) -> D:
    """Point the document at a file already stored; the file it replaces becomes a revision.

    Attaching the file a document already points at changes nothing (a completion retried).
    If the document is gone, the file is deleted and NotFound raised. The swap and the
    revision are one transaction where the server has them; without, a crash between them
    leaves only an unreferenced file, which the orphan sweep removes.
    """
    collection = beside_files(files, target.cls)
    revisions = beside_files(files, FileRevision)
    id_field = target.id_field
    by = current_caller().name

    async def swap(session: AsyncClientSession | None) -> dict[str, Any] | None:
        """The document before the swap, or None if it is gone."""
        old = await collection.find_one(target.query, session=session)
        if old is None or old.get(id_field) == stored.id:
            return old
        # Swap only if no other upload swapped first, so that concurrent uploads each keep
        # the file they replaced. (find_one_and_update's pre-image is not enough: SecantusDB
        # can hand the same pre-image to two concurrent calls, orphaning a file.)
        swapped = await collection.update_one(
            {"_id": old["_id"], id_field: old.get(id_field)},
            {"$set": {id_field: stored.id}},
            session=session,
        )
        if not swapped.matched_count:
            raise Overtaken
        name = target.cls.get_collection_name()
        await keep(revisions, files, name, old, id_field, by, session)
        return old

    while True:
        try:
            old = await files.in_transaction(swap)
            break
        except Overtaken:
            continue
    if old is None:  # deleted while the upload ran
        await files.delete(stored.id)
        raise NotFound(f"{target.what} does not exist")
    old[id_field] = stored.id
    return target.cls.model_validate(old)


async def delete_with_file(
    files: FileStore, cls: type[Document], query: dict[str, Any], id_field: str, what: str
) -> bool:
    """Delete the document, its file (a missing or dangling file is fine) and its revisions.

    One transaction where the server has them; without, the document goes first, so a crash
    leaves unreferenced files (for the orphan sweep) or revisions of nothing (for the
    retention sweep), never a reference to a missing file.
    """
    owners, revisions = revision_collections(files)

    async def remove(session: AsyncClientSession | None) -> bool:
        doc = await beside_files(files, cls).find_one_and_delete(query, session=session)
        if doc is None:
            return False
        await files.delete(doc.get(id_field), session=session)
        name = cls.get_collection_name()
        await drop_all_of(owners, revisions, files, name, doc, session)
        return True

    if not await files.in_transaction(remove):
        raise NotFound(f"{what} does not exist")
    return True
