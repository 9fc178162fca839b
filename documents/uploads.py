"""Resumable uploads kept in the database, so that any server can continue one.

An upload is a document in the `resumable_uploads` collection of the grid database
(length, offset, where the file goes, expiry); its bytes so far are `fs.chunks` documents
whose `files_id` is the upload's `_id`. A last chunk that is not yet full is stored as it
is and rewritten as more bytes arrive. Once every byte is there, the `fs.files` document is
written with the same `_id`, which makes the chunks an ordinary GridFS file. Until then,
chunks whose `files_id` is an upload's `_id` belong to that upload, not to a lost file.

sha256 and pickle-scan state cannot be stored, so each server keeps the running hash and
scan of the uploads it received bytes for; a server that continues an upload another began
first hashes and scans the bytes already stored (once), reading them back from the database.
"""

import asyncio
import contextlib
import hashlib
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId
from flrepo.documents.errors import (
    DangerousPickle,
    DigestMismatch,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    TooLarge,
    UploadBusy,
)
from flrepo.documents.files import FileStore, StoredFile, object_id
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import refuses
from pymongo import InsertOne, ReplaceOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

CHUNK_SIZE = 255 * 1024  # GridFS's default, as files stored by `FileStore.put` have
FLUSH_CHUNKS = 8  # chunks written per round trip: 2 MiB held per request being received
LEASE = timedelta(seconds=60)  # a writer that made no progress for this long loses its lock
COMMIT_EVERY_S = 1.0  # a writer kept busy records its offset and renews its lease this often
KEPT = 1024  # uploads whose running hash and scan are kept; one evicted is recomputed


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> "Hasher": ...


@dataclass
class Progress:
    """The sha256 and pickle scan of an upload's first `offset` bytes."""

    offset: int
    hasher: Hasher
    scanner: FileScanner
    whole: bool = True  # False if some bytes may have been missed: never kept then


@dataclass(frozen=True)
class BodyCheck:
    """A digest the bytes of one request must have (tus Upload-Checksum, Content-Digest)."""

    hasher: Hasher
    expected: bytes
    what: str


@dataclass(frozen=True)
class Upload:
    """One `resumable_uploads` document."""

    id: str
    length: int
    offset: int
    filename: str  # the GridFS name the file will have
    extra: dict[str, Any]  # further fields of its `fs.files` document
    metadata: dict[str, str]  # as the client sent it
    uploaded_name: str | None
    content_type: str | None
    sha256: str | None  # what the client said the whole file's sha256 is
    expires: datetime
    file_id: str | None  # set once the file is stored and attached

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Upload":
        return cls(
            id=str(doc["_id"]),
            length=doc["length"],
            offset=doc["offset"],
            filename=doc["filename"],
            extra=doc.get("extra") or {},
            metadata=doc.get("metadata") or {},
            uploaded_name=doc.get("uploadedName"),
            content_type=doc.get("contentType"),
            sha256=doc.get("sha256"),
            expires=doc["expires"].replace(tzinfo=UTC),
            file_id=doc.get("fileId"),
        )

    @property
    def complete(self) -> bool:
        return self.offset == self.length


def now() -> datetime:
    # MongoDB keeps milliseconds; so do we, so that what we compare is what is stored
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class UploadStore:
    """Resumable uploads: the `resumable_uploads` collection and `fs.chunks` of the grid db.

    The collection holds only uploads in progress (and finished ones until they expire), a
    handful of documents: it needs no index, and exists only once an upload was begun.
    """

    def __init__(self, db: AsyncDatabase, files: FileStore, expiry: timedelta) -> None:
        self.uploads = db["resumable_uploads"]
        self.chunks = db["fs.chunks"]
        self.files = files
        self.expiry = expiry
        self._kept: OrderedDict[str, Progress] = OrderedDict()

    async def create(
        self,
        length: int,
        filename: str,
        extra: dict[str, Any],
        metadata: dict[str, str],
        uploaded_name: str | None,
        content_type: str | None,
        sha256: str | None,
    ) -> Upload:
        """A new, empty upload of `length` bytes."""
        if length > self.files.max_bytes:
            raise TooLarge(f"the file exceeds the upload limit of {self.files.max_bytes} bytes")
        doc = {
            "_id": ObjectId(),
            "length": length,
            "offset": 0,
            "filename": filename,
            "extra": extra,
            "metadata": metadata,
            "uploadedName": uploaded_name,
            "contentType": content_type,
            "sha256": sha256,
            "created": now(),
            "expires": now() + self.expiry,
            "fileId": None,
        }
        await self.uploads.insert_one(doc)
        return Upload.from_document(doc)

    async def get(self, upload_id: str) -> Upload | None:
        """The upload, unless it does not exist or has expired."""
        oid = object_id(upload_id)
        doc = await self.uploads.find_one({"_id": oid, "expires": {"$gt": now()}}) if oid else None
        return Upload.from_document(doc) if doc else None

    async def expect(self, upload: Upload, sha256: str) -> Upload:
        """Record the sha256 the whole file must have; one already recorded must agree."""
        if upload.sha256 and upload.sha256 != sha256:
            raise InvalidInput(f"the upload was announced with sha256 {upload.sha256}")
        await self.uploads.update_one({"_id": ObjectId(upload.id)}, {"$set": {"sha256": sha256}})
        return Upload.from_document({**await self._document(upload.id), "sha256": sha256})

    async def append(
        self,
        upload: Upload,
        offset: int,
        body: AsyncIterator[bytes],
        check: BodyCheck | None = None,
    ) -> Upload:
        """Add `body` at `offset`, which must be the upload's offset.

        Without `check`, what arrives is kept even if the body ends early (a dropped link),
        and written as it arrives, so a server that dies loses little. With `check`, the
        body's bytes are kept only if they have the digest named; else none of them are.
        """
        oid = ObjectId(upload.id)
        token = uuid.uuid4().hex
        claimed = await self.uploads.find_one_and_update(
            {
                "_id": oid,
                "offset": offset,
                "fileId": None,
                "expires": {"$gt": now()},
                "$or": [{"lockedUntil": None}, {"lockedUntil": {"$lt": now()}}],
            },
            {"$set": {"lock": token, "lockedUntil": now() + LEASE}},
            return_document=ReturnDocument.AFTER,
        )
        if claimed is None:
            current = await self.get(upload.id)
            if current is None or current.file_id:
                raise NotFound("no such upload in progress")
            if current.offset != offset:
                raise OffsetMismatch(f"the upload is at offset {current.offset}, not {offset}")
            raise UploadBusy("another request is writing to this upload")
        upload = Upload.from_document(claimed)
        try:
            await self.files.upload_slots.acquire()  # counts against the server's upload budget
        except BaseException:
            await self.uploads.update_one(
                {"_id": oid, "lock": token}, {"$unset": {"lock": "", "lockedUntil": ""}}
            )
            raise
        try:
            # Taken, not shared: kept again only once the bytes it has seen are stored.
            progress = await self._progress(upload)
            writer = _ChunkWriter(self, oid, token, upload, progress, check is None)
            await writer.start()
            try:
                async for piece in body:
                    if check is not None:
                        check.hasher.update(piece)
                    await writer.add(piece)
                if check is not None and check.hasher.digest() != check.expected:
                    raise DigestMismatch(f"the bytes sent do not match {check.what}")
                await writer.finish()
            except BaseException:
                if check is None:
                    await writer.finish()  # keep what arrived
                    self._keep(upload.id, progress)
                else:
                    await writer.roll_back()
                raise
            self._keep(upload.id, progress)
        finally:
            self.files.upload_slots.release()
            await self.uploads.update_one(
                {"_id": oid, "lock": token}, {"$unset": {"lock": "", "lockedUntil": ""}}
            )
        return Upload.from_document(await self._document(upload.id))

    async def store(self, upload: Upload) -> StoredFile:
        """The `fs.files` document of a complete upload, written now or found written before.

        Raises DigestMismatch if the bytes' sha256 is not the one the client announced.
        """
        assert upload.complete
        existing = await self.files.get(upload.id)
        if existing is not None:
            return existing
        progress = await self._progress(upload)
        sha256 = progress.hasher.hexdigest()
        if upload.sha256 and sha256 != upload.sha256:
            raise DigestMismatch(f"the file's sha256 is {sha256}, not {upload.sha256}")
        safety = progress.scanner.result()
        if refuses(self.files.pickle_policy, safety):
            raise DangerousPickle(safety.reasons())
        doc: dict[str, Any] = {
            "_id": ObjectId(upload.id),
            "filename": upload.filename,
            "chunkSize": CHUNK_SIZE,
            "length": upload.length,
            "uploadDate": now(),
            "sha256": sha256,
            "safety": safety.document(),
        }
        if upload.content_type:
            doc["contentType"] = upload.content_type
        doc.update(upload.extra)
        if upload.uploaded_name:
            doc["uploadedName"] = upload.uploaded_name
        # another request completing the same upload may have stored it meanwhile
        with contextlib.suppress(DuplicateKeyError):
            await self.files.files.insert_one(doc)
        stored = await self.files.get(upload.id)
        assert stored is not None
        return stored

    async def mark_done(self, upload: Upload, file_id: str) -> Upload:
        """The upload's file is attached: keep the record (until it expires) to say so."""
        await self.uploads.update_one({"_id": ObjectId(upload.id)}, {"$set": {"fileId": file_id}})
        self._kept.pop(upload.id, None)
        return Upload.from_document({**await self._document(upload.id), "fileId": file_id})

    async def delete(self, upload: Upload) -> None:
        """Forget the upload; its bytes too unless they became a stored file."""
        oid = ObjectId(upload.id)
        self._kept.pop(upload.id, None)
        if (await self.uploads.delete_one({"_id": oid})).deleted_count:
            await self._drop_chunks(oid)

    async def sweep_expired(self, at: datetime | None = None) -> int:
        """Delete the uploads that expired before `at` (now), with their bytes; how many."""
        at = at or now()
        swept = 0
        async for doc in self.uploads.find({"expires": {"$lt": at}}, {"_id": 1}):
            oid = doc["_id"]
            # the expiry is checked again as the document goes: a request may have renewed it
            if (await self.uploads.delete_one({"_id": oid, "expires": {"$lt": at}})).deleted_count:
                self._kept.pop(str(oid), None)
                await self._drop_chunks(oid)
                swept += 1
        return swept

    async def _drop_chunks(self, oid: ObjectId) -> None:
        """The chunks of an upload, unless they are a stored file now (that file keeps them)."""
        if await self.files.files.find_one({"_id": oid}, {"_id": 1}) is None:
            await self.chunks.delete_many({"files_id": oid})

    async def _document(self, upload_id: str) -> dict[str, Any]:
        doc = await self.uploads.find_one({"_id": ObjectId(upload_id)})
        if doc is None:
            raise NotFound("no such upload in progress")
        return doc

    async def _progress(self, upload: Upload) -> Progress:
        """The hash and scan of the upload's bytes so far, taken from those kept (no longer
        kept then) or caught up from the database, its chunks read a range at a time."""
        progress = self._kept.pop(upload.id, None)
        if progress is None or not progress.whole or progress.offset > upload.offset:
            scanning = self.files.scanning
            scanner = FileScanner(scanning.allowlist(upload.filename), scanning.budget)
            progress = Progress(0, hashlib.sha256(), scanner)
        oid = ObjectId(upload.id)
        async for data in self.files.read_chunks(oid, CHUNK_SIZE, progress.offset, upload.offset):
            progress.hasher.update(data)
            if not progress.scanner.done:
                await asyncio.to_thread(progress.scanner.feed, data)
        progress.offset = upload.offset
        return progress

    def _keep(self, upload_id: str, progress: Progress) -> None:
        self._kept[upload_id] = progress
        self._kept.move_to_end(upload_id)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)


class _ChunkWriter:
    """Appends bytes to an upload's chunks, FLUSH_CHUNKS full chunks per write.

    A write runs while the next chunks arrive; the next write starts once it has finished,
    so writes land in order. Bytes leave `pending` only once written, so that a write that
    failed is written again by `finish`. Each write also hashes and scans its pieces, on a
    thread, while the chunks go to the database.
    """

    def __init__(
        self,
        store: UploadStore,
        oid: ObjectId,
        token: str,
        upload: Upload,
        progress: Progress,
        commit_as_written: bool,
    ) -> None:
        self.store = store
        self.oid = oid
        self.token = token
        self.upload = upload
        self.progress = progress
        self.commit_as_written = commit_as_written
        self.first_n = upload.offset // CHUNK_SIZE
        self.n = self.first_n  # index of the chunk `pending` starts
        self.pending = bytearray()
        self.writing = 0  # bytes at the front of `pending` that a write is storing
        self.unread: list[bytes] = []  # pieces not yet hashed and scanned
        self.old_tail = b""
        self.received = 0
        self.committed_at = -math.inf  # when the offset was last recorded, the lease renewed
        self._write_task: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Pick up the partial last chunk, if the upload has one."""
        tail = self.upload.offset % CHUNK_SIZE
        if tail:
            doc = await self.store.chunks.find_one({"files_id": self.oid, "n": self.first_n})
            if doc is None or len(doc["data"]) < tail:
                raise NotFound("the upload's stored bytes are incomplete")
            self.old_tail = bytes(doc["data"][:tail])
            self.pending += self.old_tail

    async def add(self, piece: bytes) -> None:
        if self.upload.offset + self.received + len(piece) > self.upload.length:
            raise TooLarge(f"the upload is {self.upload.length} bytes long; more were sent")
        self.pending += piece
        self.unread.append(piece)
        self.received += len(piece)
        if len(self.pending) - self.writing >= FLUSH_CHUNKS * CHUNK_SIZE:
            await self._write(full_only=True)

    async def finish(self) -> int:
        """Write what is pending, the partial last chunk too; commit and return the offset."""
        await self._write(full_only=False)
        await self._settle()
        end = self.upload.offset + self.received
        await self._commit({"offset": end})
        self.progress.offset = end
        return end

    async def roll_back(self) -> None:
        """Undo the chunks written: the upload is as it was before the request."""
        with contextlib.suppress(Exception):
            await self._settle()  # so that no write lands after the deletion
        await self.store.chunks.delete_many({"files_id": self.oid, "n": {"$gt": self.first_n}})
        if self.old_tail:
            await self.store.chunks.update_one(
                {"files_id": self.oid, "n": self.first_n}, {"$set": {"data": self.old_tail}}
            )
        else:
            await self.store.chunks.delete_one({"files_id": self.oid, "n": self.first_n})

    async def _write(self, full_only: bool) -> None:
        """Once the write in progress is done, start writing the chunks of `pending`: the
        full ones, and with `full_only` false the partial last one too."""
        await self._settle()
        count = (
            len(self.pending) // CHUNK_SIZE if full_only else -(-len(self.pending) // CHUNK_SIZE)
        )
        if not count:
            return
        self.writing = min(count * CHUNK_SIZE, len(self.pending))
        docs = [
            {
                "files_id": self.oid,
                "n": self.n + i,
                "data": bytes(memoryview(self.pending)[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]),
            }
            for i in range(count)
        ]
        pieces, self.unread = self.unread, []
        self._write_task = asyncio.ensure_future(self._store(docs, pieces))

    async def _settle(self) -> None:
        """Wait for the write in progress, if any; its failure is raised here, once."""
        task = self._write_task
        if task is None:
            return
        try:
            await asyncio.shield(task)  # cancelled meanwhile, the write still completes
        finally:
            if task.done():  # else a later call waits for it again: never two writes at once
                self._write_task = None

    async def _store(self, docs: list[dict[str, Any]], pieces: list[bytes]) -> None:
        """Write `docs` (chunks n, n+1, …) while `pieces` are hashed and scanned on a thread."""
        read = asyncio.ensure_future(asyncio.to_thread(_read, self.progress, pieces))
        try:
            if time.monotonic() - self.committed_at >= COMMIT_EVERY_S:
                await self._commit(self._written())  # still ours?
            try:
                # the chunk the request began in may exist (a partial last chunk): replace it;
                # the others are new, unless a writer that died left them (then replace all)
                ops: list[InsertOne | ReplaceOne] = list(map(InsertOne, docs))
                if self.n == self.first_n:
                    ops[0] = ReplaceOne({"files_id": self.oid, "n": self.n}, docs[0], upsert=True)
                await self.store.chunks.bulk_write(ops)
            except BulkWriteError:
                for doc in docs:
                    doc.pop("_id", None)  # as the insert set it: the chunk keeps its own
                await self.store.chunks.bulk_write(
                    [ReplaceOne({"files_id": self.oid, "n": d["n"]}, d, upsert=True) for d in docs]
                )
        finally:
            self.writing = 0
            await read
        full = sum(len(doc["data"]) == CHUNK_SIZE for doc in docs)
        # a new buffer: after a `del` at its front, every `+=` would copy the whole buffer
        self.pending = self.pending[full * CHUNK_SIZE :]
        self.n += full
        # Recorded now unless the next write is waiting already (the database is what holds
        # the upload back): then once a second, so a server that dies loses a second of bytes.
        waiting = len(self.pending) >= FLUSH_CHUNKS * CHUNK_SIZE
        if not waiting or time.monotonic() - self.committed_at >= COMMIT_EVERY_S:
            await self._commit(self._written())

    def _written(self) -> dict[str, Any]:
        """The offset to record: past the whole chunks written, unless that is before where
        this request began, or the request's bytes are kept only once checked."""
        if self.commit_as_written and self.n > self.first_n:
            return {"offset": self.n * CHUNK_SIZE}
        return {}

    async def _commit(self, fields: dict[str, Any]) -> None:
        """Set `fields` and renew the lease and the expiry, if the upload is still ours."""
        t = now()
        fields = {**fields, "lockedUntil": t + LEASE, "expires": t + self.store.expiry}
        done = await self.store.uploads.update_one(
            {"_id": self.oid, "lock": self.token}, {"$set": fields}
        )
        if not done.matched_count:
            raise UploadBusy("the upload was taken over or removed while it was being written")
        self.committed_at = time.monotonic()


def _read(progress: Progress, pieces: list[bytes]) -> None:
    """Hash and scan `pieces`, the bytes that follow those `progress` has seen."""
    try:
        for piece in pieces:
            progress.hasher.update(piece)
            if not progress.scanner.done:
                progress.scanner.feed(piece)
    except BaseException:
        progress.whole = False
        raise
