"""The GridFS file store: streamed uploads with sha256 and size limit, streamed downloads."""

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from flrepo.documents.chunk_writer import CHUNK_SIZE, ChunkWriter, Inspection
from flrepo.documents.errors import DangerousPickle, DigestMismatch, InvalidInput, TooLarge
from flrepo.documents.scan_pool import ScanPool
from flrepo.documents.signatures import Bundle, Signatures
from flrepo.documents.upload_registry import UploadRegistry
from flrepo.documents.upload_shares import UploadShares, UploadSlots, arriving
from flrepo.scanner.scanning import Scanning
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import NEVER_SCANNED, PicklePolicy, Safety, Verdict, refuses
from flrepo.signing.states import UNSIGNED, FileSignature, SignaturePolicy, SignatureState
from gridfs.errors import CorruptGridFile
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.client_session import TransactionOptions
from pymongo.errors import DuplicateKeyError

log = logging.getLogger(__name__)

T = TypeVar("T")
CHUNKS_PER_READ = 32  # 8 MiB of default-sized chunks per database round trip
ByteProgress = Callable[[int, int], None]  # told (bytes done, bytes in all) as a long pass runs


def stalled() -> InvalidInput:
    """The error of a one-shot upload whose lease ran out, so that the sweep removed it."""
    return InvalidInput("the upload stalled too long and was given up; send it again")


class FileSource(Protocol):
    """An upload being received: a stream of bytes; type and size bound known once it is read."""

    content_type: str | None
    filename: str | None  # the name the client gave the file, if any
    min_length: int  # the file is at least this long (a declared size); 0 if unknown

    def chunks(self) -> AsyncIterator[bytes]: ...


def bundle_of(source: FileSource) -> Bundle | None:
    """How to read the signature bundle sent with `source`, if it can carry one: a source
    that does has an async `signature()` (None when the client sent no bundle after all)."""
    return getattr(source, "signature", None)


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
    signature: FileSignature = UNSIGNED
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
            signature=FileSignature.from_document(doc.get("signature")),
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
        shares: UploadShares | None = None,
        signature_policy: SignaturePolicy = "report",
        scanning: Scanning | None = None,
        pins: AsyncCollection | None = None,
    ) -> None:
        self.db = db
        self.pins = pins  # training runs: a file one of them pins is never deleted
        self.files = db["fs.files"]
        self.chunks = db["fs.chunks"]
        self.registry = UploadRegistry(db)
        self.max_bytes = max_bytes
        self.max_concurrent_uploads = max_concurrent_uploads
        self.transactions = transactions
        self.pickle_policy = pickle_policy
        self.scanning = scanning or Scanning()  # the allowlists and budget of each scan
        self.signatures = Signatures(signature_policy)
        self.set_shares(shares or UploadShares())

    def set_shares(self, shares: UploadShares) -> None:
        """Each caller's share of the upload slots and scan threads, and the idle timeout
        (before any upload begins)."""
        self.shares = shares
        self.upload_slots = UploadSlots(self.max_concurrent_uploads, shares.uploads_per_caller)
        self.scans = ScanPool(shares.scan_threads, shares.scan_threads_per_caller)

    def scanner_for(self, filename: str) -> FileScanner:
        """A pickle scanner for the file named `filename`, with its kind's allowlist."""
        return FileScanner(self.scanning.allowlist(filename), self.scanning.budget)

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
        """GridFS's standard indexes, which downloads rely on, and those of the listings:
        upload order, alone and after the pickle scan's verdict."""
        await self.files.create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
        order = [("uploadDate", ASCENDING), ("_id", ASCENDING)]
        await self.files.create_index(order)
        await self.files.create_index([("safety.verdict", ASCENDING), *order])
        await self.chunks.create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)

    async def put(
        self,
        filename: str,
        source: FileSource,
        extra: dict[str, Any] | None = None,
        sha256: str | None = None,
        owner: str = "",
    ) -> StoredFile:
        """Stream `source` into a new file; on any failure nothing of it is left behind.

        At most `max_concurrent_uploads` uploads hold a buffer at once; others wait their turn,
        but the caller `owner` past its share is refused (TooManyRequests). A source that
        sends nothing for the idle timeout fails (UploadIdle). The upload is registered with
        a lease while its bytes arrive, and written by the same pipeline as a resumable
        upload; then it is checked and stored as `add_file` does. A source that can carry a
        signature bundle (`bundle_of`) is signed with it; under the `require` policy one that
        cannot is refused before any byte is read.
        """
        bundle = bundle_of(source)
        if bundle is None:
            self.signatures.refuse_unsigned()
        async with self.upload_slots.hold(owner):
            oid = ObjectId()
            lease = await self.registry.begin_one_shot(oid, stalled)
            writer = ChunkWriter(
                self.chunks,
                lease,
                0,
                Inspection.start(self.scanner_for(filename)),
                self.scans,
                owner,
            )
            try:
                async for chunk in arriving(source.chunks(), self.shares.idle_timeout_s):
                    if max(writer.end + len(chunk), source.min_length) > self.max_bytes:
                        raise TooLarge(
                            f"the file exceeds the upload limit of {self.max_bytes} bytes"
                        )
                    await writer.add(chunk)
                length = await writer.finish()
                fields = {"contentType": source.content_type} if source.content_type else {}
                stored = await self.add_file(
                    oid,
                    filename,
                    length,
                    writer.inspection,
                    sha256,
                    {**fields, **(extra or {})},
                    bundle,
                )
            except BaseException:
                await asyncio.shield(self._discard(writer))
                raise
        await self.registry.remove(oid)
        return stored

    async def _discard(self, writer: ChunkWriter) -> None:
        """Remove a failed one-shot upload: its chunks, then its registration."""
        await writer.roll_back()
        await self.registry.remove(writer.files_id)

    async def add_file(
        self,
        oid: ObjectId,
        filename: str,
        length: int,
        inspection: Inspection,
        sha256: str | None,
        fields: dict[str, Any],
        bundle: Bundle | None = None,
    ) -> StoredFile:
        """Write the `fs.files` document that makes an upload's stored chunks a file, once
        they pass its checks: it never exists if they do not.

        Raises DigestMismatch if the bytes' sha256 is not `sha256` (the client's, if it gave
        one), DangerousPickle for a DANGEROUS file under the `refuse` policy, SignatureRefused
        for a file not VERIFIED by its `bundle` (read now) under the `require` policy. A file
        already written (another request completed the same upload) is left as it is. The upload
        date is the database's clock.
        """
        assert inspection.offset == length and inspection.whole
        digest = inspection.hasher.hexdigest()
        if sha256 and digest != sha256:
            raise DigestMismatch(f"the file's sha256 is {digest}, not {sha256}")
        safety = inspection.scanner.result()
        if refuses(self.pickle_policy, safety):
            raise DangerousPickle(safety.reasons())
        signature = await self.signatures.check(await bundle() if bundle else None, digest)
        if signature.state != SignatureState.UNSIGNED:
            fields = {**fields, "signature": signature.document()}
        document = {
            "length": length,
            "chunkSize": CHUNK_SIZE,
            "filename": filename,
            "sha256": digest,
            "safety": safety.document(),
            **fields,
        }
        with contextlib.suppress(DuplicateKeyError):  # a concurrent completion won the race
            await self.files.update_one(
                {"_id": oid},
                {"$setOnInsert": document, "$currentDate": {"uploadDate": True}},
                upsert=True,
            )
        stored = await self.files.find_one({"_id": oid})
        assert stored is not None
        return StoredFile.from_document(stored)

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
        where: dict[str, Any] | None = None,
    ) -> list[StoredFile]:
        """Files whose name starts with the prefix (all if None), oldest upload first.

        With `verdict`, only the files whose pickle scan says so; with `where`, only those
        that also match it (a page's start, for keyset paging).
        """
        query: dict[str, Any] = dict(where or {})
        if filename_prefix:
            query["filename"] = {"$regex": "^" + re.escape(filename_prefix)}
        if verdict == Verdict.UNSCANNED:
            query["safety.verdict"] = {"$nin": [v.value for v in Verdict if v != verdict]}
        elif verdict is not None:
            query["safety.verdict"] = verdict.value
        order = [("uploadDate", ASCENDING), ("_id", ASCENDING)]
        cursor = self.files.find(query).sort(order)
        if verdict is not None:  # the verdict's index, in upload order
            cursor = cursor.hint([("safety.verdict", ASCENDING), *order])
        elif filename_prefix:  # the prefix's range of names; only those are sorted
            cursor = cursor.hint([("filename", ASCENDING), ("uploadDate", ASCENDING)])
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

    async def set_signature(self, record: StoredFile, signature: FileSignature) -> bool:
        """Store a file's signature, if the file is still the one checked; False if it is gone."""
        done = await self.files.update_one(
            {"_id": record.document["_id"]}, {"$set": {"signature": signature.document()}}
        )
        return bool(done.matched_count)

    async def signed(self, after: Any = None, limit: int = 100) -> list[StoredFile]:
        """Files that have a signature bundle, by id, the first `limit` after id `after`."""
        query: dict[str, Any] = {"signature.bundle": {"$exists": True}}
        if after is not None:
            query["_id"] = {"$gt": after}
        docs = await self.files.find(query).sort("_id", ASCENDING).limit(limit).to_list()
        return [StoredFile.from_document(doc) for doc in docs]

    async def set_uploaded_name(self, file_id: str, name: str | None) -> StoredFile | None:
        """Keep the name the client gave the file (`uploadedName`), for downloads to offer."""
        oid = object_id(file_id)
        if oid is None:
            return None
        if name:
            await self.files.update_one({"_id": oid}, {"$set": {"uploadedName": name}})
        return await self.get(file_id)

    async def pinned(self, file_id: str, session: AsyncClientSession | None = None) -> bool:
        """Whether a training run pins the file (one indexed lookup)."""
        if self.pins is None:
            return False
        found = await self.pins.find_one({"pinned_files": file_id}, {"_id": 1}, session=session)
        return found is not None

    async def delete(self, file_id: str | None, session: AsyncClientSession | None = None) -> None:
        """Delete the file if it exists; a null or dangling id is not an error.

        The `fs.files` document goes first, so a crash in between leaves orphaned chunks
        (for the sweep), never a file with chunks missing. A file that a training run
        pins is kept: the run still serves it (and it is no orphan while the run exists).
        """
        oid = object_id(file_id)
        if oid is None or await self.pinned(str(oid), session):
            return
        await self.files.delete_one({"_id": oid}, session=session)
        await self.chunks.delete_many({"files_id": oid}, session=session)
