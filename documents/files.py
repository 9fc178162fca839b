"""The GridFS file store: streamed uploads with sha256 and size limit, streamed downloads."""

import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bson import ObjectId
from bson.errors import InvalidId
from flrepo.documents.errors import DangerousPickle, TooLarge
from flrepo.documents.pickle_scan import (
    NEVER_SCANNED,
    FileScanner,
    PicklePolicy,
    Safety,
    Verdict,
)
from gridfs import AsyncGridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)

CHUNKS_PER_READ = 32  # 8 MiB of default-sized chunks per database round trip


class FileSource(Protocol):
    """An upload being received: a stream of bytes; type and size bound known once it is read."""

    content_type: str | None
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
    safety: Safety = NEVER_SCANNED
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "StoredFile":
        return cls(
            id=str(doc["_id"]),
            filename=doc.get("filename") or "",
            length=int(doc.get("length", 0)),
            upload_date=doc["uploadDate"].replace(tzinfo=UTC),
            chunk_size=int(doc.get("chunkSize", 0)),
            sha256=doc.get("sha256"),
            content_type=doc.get("contentType"),
            safety=Safety.from_document(doc.get("safety")),
            document=doc,
        )


def object_id(file_id: str | None) -> ObjectId | None:
    """The ObjectId a hex string names, or None if it names none."""
    try:
        return ObjectId(file_id) if file_id else None
    except (InvalidId, TypeError):
        return None


class FileStore:
    """Binary objects in the GridFS bucket `fs` of the grid database."""

    def __init__(
        self, db: AsyncDatabase, max_bytes: int, pickle_policy: PicklePolicy = "report"
    ) -> None:
        self.bucket = AsyncGridFSBucket(db)
        self.files = db["fs.files"]
        self.chunks = db["fs.chunks"]
        self.max_bytes = max_bytes
        self.pickle_policy = pickle_policy

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

        The bytes are scanned for pickles as they pass; the result is stored as `safety`.
        Under the `refuse` policy a DANGEROUS file is refused (DangerousPickle).
        """
        grid_in = self.bucket.open_upload_stream(filename)
        digest = hashlib.sha256()
        scanner = FileScanner()
        length = 0
        try:
            async for chunk in source.chunks():
                length += len(chunk)
                if max(length, source.min_length) > self.max_bytes:
                    raise TooLarge(f"the file exceeds the upload limit of {self.max_bytes} bytes")
                digest.update(chunk)
                scanner.feed(chunk)
                await grid_in.write(chunk)
            safety = scanner.result()
            if self.pickle_policy == "refuse" and safety.verdict == Verdict.DANGEROUS:
                raise DangerousPickle(safety.dangerous_globals)
            await grid_in.set("safety", safety.document())
            await grid_in.set("sha256", digest.hexdigest())
            if source.content_type:
                await grid_in.set("contentType", source.content_type)
            for key, value in (extra or {}).items():
                await grid_in.set(key, value)
            await grid_in.close()
        except BaseException:
            await grid_in.abort()
            raise
        doc = await self.files.find_one({"_id": grid_in._id})
        assert doc is not None
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

    async def stream(self, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk, fetched a bounded range of chunks at a time.

        Asking for ranges rather than one cursor over all chunks keeps the database from
        holding a whole multi-gigabyte result (the embedded database materialises results).
        """
        record = await self.get(file_id)
        if record is None:
            return
        oid = object_id(file_id)
        expected = -(-record.length // record.chunk_size) if record.chunk_size else 0
        n = 0
        while n < expected:
            first = n
            query = {"files_id": oid, "n": {"$gte": n, "$lt": n + CHUNKS_PER_READ}}
            for doc in await self.chunks.find(query).sort("n", ASCENDING).to_list():
                if doc["n"] != n:
                    break
                yield doc["data"]
                n += 1
            if n == first:
                break
        if n != expected:
            log.error("file %s is missing chunk %d of %d", file_id, n, expected)
            raise CorruptGridFile(f"file {file_id} is missing chunk {n}")

    async def set_safety(self, file_id: str, safety: Safety) -> bool:
        """Store a scan result with the file; False if the file is gone."""
        done = await self.files.update_one(
            {"_id": object_id(file_id)}, {"$set": {"safety": safety.document()}}
        )
        return bool(done.matched_count)

    async def delete(self, file_id: str | None) -> None:
        """Delete the file if it exists; a null or dangling id is not an error."""
        oid = object_id(file_id)
        if oid is None:
            return
        with contextlib.suppress(NoFile):
            await self.bucket.delete(oid)
