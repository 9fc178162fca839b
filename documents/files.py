"""The GridFS file store: streamed uploads with sha256 and size limit, streamed downloads."""

import asyncio
import hashlib
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from flrepo.documents.chunk_writer import ChunkWriter
from flrepo.documents.errors import DangerousPickle, TooLarge
from flrepo.scanner.scanning import Scanning
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import NEVER_SCANNED, PicklePolicy, Safety, Verdict, refuses
from gridfs.errors import CorruptGridFile
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.client_session import TransactionOptions

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNKS_PER_READ = 32  # 8 MiB of default-sized chunks per database round trip


class FileSource(Protocol):
    """An upload being received: a stream of bytes; type and size bound known once it is read."""

    content_type: str | None
    filename: str | None  # the name the client gave the file, if any
    min_length: int  # the file is at least this long (a declared size); 0 if unknown

    def chunks(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class StoredFile:
    """One `fs.files` document."""

    id: str
    filename: str
    length: int
    upload_date: datetime
    chunk_size: int
    sha256: str | None = None
    content_type: str | None = None
    uploaded_name: str | None = None  # the name the client gave the file, if it gave one
    safety: Safety = NEVER_SCANNED
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "StoredFile":
        """The file a `fs.files` document describes, also one another tool wrote: a missing
        uploadDate is the id's creation time, a length or chunkSize that is no count is 0."""
        return cls(
            id=str(doc["_id"]),
            filename=doc.get("filename") or "",
            length=whole_number(doc.get("length")),
            upload_date=_upload_date(doc),
            chunk_size=whole_number(doc.get("chunkSize")),
            sha256=doc.get("sha256"),
            content_type=doc.get("contentType"),
            uploaded_name=doc.get("uploadedName"),
            safety=Safety.from_document(doc.get("safety")),
            document=doc,
        )


def whole_number(value: Any) -> int:
    """A length or count stored as any BSON number (older drivers wrote doubles); else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return 0
    return max(0, int(value))


def _upload_date(doc: dict[str, Any]) -> datetime:
    """When the file was stored, in UTC."""
    value = doc.get("uploadDate")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(doc.get("_id"), ObjectId):
        return doc["_id"].generation_time
    return datetime.fromtimestamp(0, UTC)


def object_id(file_id: str | None) -> ObjectId | None:
    """The ObjectId a hex string names, or None if it names none."""
    try:
        return ObjectId(file_id) if file_id else None
    except (InvalidId, TypeError):
        return None


class FileStore:
    """Binary objects in the GridFS bucket `fs` of the grid database."""

    def __init__(
        self,
        db: AsyncDatabase,
        max_bytes: int,
        max_concurrent_uploads: int = 16,
        transactions: bool = False,
        pickle_policy: PicklePolicy = "report",
        scanning: Scanning | None = None,
    ) -> None:
        self.db = db
        self.files = db["fs.files"]
        self.chunks = db["fs.chunks"]
        self.max_bytes = max_bytes
        self.upload_slots = asyncio.Semaphore(max_concurrent_uploads)
        self.transactions = transactions
        self.pickle_policy = pickle_policy
        self.scanning = scanning or Scanning()  # the allowlists and budget of each scan

    async def in_transaction(
        self, operation: Callable[[AsyncClientSession | None], Awaitable[T]]
    ) -> T:
        """Run `operation` in one transaction where the server has them, else step by step.

        It may run more than once (a transaction that conflicts is retried).
        """
        if not self.transactions:
            return await operation(None)
        options = TransactionOptions(write_concern=self.db.write_concern)
        async with self.db.client.start_session(default_transaction_options=options) as session:
            return await session.with_transaction(operation)

    async def create_indexes(self) -> None:
        """GridFS's standard indexes, which listings and downloads rely on."""
        await self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
        await self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)

    async def put(
        self,
        filename: str,
        source: FileSource,
        extra: dict[str, Any] | None = None,
    ) -> StoredFile:
        """Stream `source` into a new file; on any failure nothing of it is left behind.

        At most `max_concurrent_uploads` uploads hold a buffer at once; others wait their turn.
        The bytes are scanned for pickles as they pass (on a thread, so that a slow scan
        never stalls other requests); the result is stored as `safety`. Under the `refuse`
        policy a DANGEROUS file is refused, under `refuse-suspicious` a SUSPICIOUS one too
        (DangerousPickle).
        """
        async with self.upload_slots:
            writer = ChunkWriter(self.db)
            digest = hashlib.sha256()
            scanner = FileScanner(self.scanning.allowlist(filename), self.scanning.budget)
            length = 0
            try:
                async for chunk in source.chunks():
                    length += len(chunk)
                    if max(length, source.min_length) > self.max_bytes:
                        raise TooLarge(
                            f"the file exceeds the upload limit of {self.max_bytes} bytes"
                        )
                    digest.update(chunk)
                    await asyncio.to_thread(scanner.feed, chunk)
                    await writer.write(chunk)
                safety = scanner.result()
                if refuses(self.pickle_policy, safety):
                    raise DangerousPickle(safety.reasons())
                fields: dict[str, Any] = {"sha256": digest.hexdigest(), "safety": safety.document()}
                if source.content_type:
                    fields["contentType"] = source.content_type
                doc = await writer.close(filename, {**fields, **(extra or {})})
            except BaseException:
                await asyncio.shield(writer.abort())
                raise
        return StoredFile.from_document(doc)

    async def get(self, file_id: str | None) -> StoredFile | None:
        oid = object_id(file_id)
        doc = await self.files.find_one({"_id": oid}) if oid else None
        return StoredFile.from_document(doc) if doc else None

    async def get_many(self, file_ids: list[str]) -> dict[str, StoredFile]:
        """The files among `file_ids` that exist, by id (one query)."""
        oids = [oid for oid in map(object_id, file_ids) if oid]
        docs = await self.files.find({"_id": {"$in": oids}}).to_list() if oids else []
        return {str(doc["_id"]): StoredFile.from_document(doc) for doc in docs}

    async def find(
        self,
        filename_prefix: str | None = None,
        limit: int = 0,
        offset: int = 0,
        verdict: Verdict | None = None,
    ) -> list[StoredFile]:
        """Files whose name starts with the prefix (all if None), oldest upload first.

        With `verdict`, only the files whose pickle scan says so.
        """
        query: dict[str, Any] = {}
        if filename_prefix:
            query["filename"] = {"$regex": "^" + re.escape(filename_prefix)}
        if verdict == Verdict.UNSCANNED:
            query["safety.verdict"] = {"$nin": [v.value for v in Verdict if v != verdict]}
        elif verdict is not None:
            query["safety.verdict"] = verdict.value
        cursor = self.files.find(query).sort([("uploadDate", ASCENDING), ("_id", ASCENDING)])
        docs = await cursor.skip(offset).limit(limit).to_list()
        return [StoredFile.from_document(doc) for doc in docs]

    async def newest(self, filename: str) -> StoredFile | None:
        """The latest upload named exactly `filename`."""
        docs = (
            await self.files.find({"filename": filename})
            .sort([("uploadDate", DESCENDING), ("_id", DESCENDING)])
            .limit(1)
            .to_list()
        )
        return StoredFile.from_document(docs[0]) if docs else None

    async def stream(
        self, file_id: str, start: int = 0, stop: int | None = None
    ) -> AsyncIterator[bytes]:
        """The file's bytes `start` to `stop` (exclusive; None: to the end), chunk by chunk."""
        record = await self.get(file_id)
        if record is None:
            return
        stop = record.length if stop is None else min(stop, record.length)
        async for data in self.read_chunks(record.document["_id"], record.chunk_size, start, stop):
            yield data

    async def read_chunks(
        self, files_id: Any, chunk_size: int, start: int, stop: int
    ) -> AsyncIterator[bytes]:
        """Bytes `start` to `stop` of the chunks of `files_id`, reading only the chunks needed.

        Chunks are fetched a bounded range at a time, not through one cursor over all of
        them, which keeps the database from holding a whole multi-gigabyte result (the
        embedded database materialises results).
        """
        if start >= stop or chunk_size <= 0:
            return
        n, expected = start // chunk_size, -(-stop // chunk_size)
        while n < expected:
            first = n
            last = min(n + CHUNKS_PER_READ, expected)
            query = {"files_id": files_id, "n": {"$gte": n, "$lt": last}}
            for doc in await self.chunks.find(query).sort("n", ASCENDING).to_list():
                if doc["n"] != n:
                    break
                data = doc["data"]
                begin = max(0, start - n * chunk_size)
                end = min(len(data), stop - n * chunk_size)
                yield data[begin:end] if begin or end < len(data) else data
                n += 1
            if n == first:
                break
        if n != expected:
            log.error("file %s is missing chunk %d of %d", files_id, n, expected)
            raise CorruptGridFile(f"file {files_id} is missing chunk {n}")

    async def set_safety(self, file_id: str, safety: Safety) -> bool:
        """Store a scan result with the file; False if the file is gone."""
        done = await self.files.update_one(
            {"_id": object_id(file_id)}, {"$set": {"safety": safety.document()}}
        )
        return bool(done.matched_count)

    async def set_uploaded_name(self, file_id: str, name: str | None) -> StoredFile | None:
        """Keep the name the client gave the file (`uploadedName`), for downloads to offer."""
        oid = object_id(file_id)
        if oid is None:
            return None
        if name:
            await self.files.update_one({"_id": oid}, {"$set": {"uploadedName": name}})
        return await self.get(file_id)

    async def delete(self, file_id: str | None, session: AsyncClientSession | None = None) -> None:
        """Delete the file if it exists; a null or dangling id is not an error.

        The `fs.files` document goes first, so a crash in between leaves orphaned chunks
        (for the sweep), never a file with chunks missing.
        """
        oid = object_id(file_id)
        if oid is None:
            return
        await self.files.delete_one({"_id": oid}, session=session)
        await self.chunks.delete_many({"files_id": oid}, session=session)
