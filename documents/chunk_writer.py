"""Writing a file's chunks as its bytes arrive: one pipeline for one-shot and resumable uploads.

The bytes go to `fs.chunks` in GridFS's own layout, CHUNKS_PER_WRITE full chunks per round
trip; a write runs while the next chunks arrive, and meanwhile a thread of the scan pool
(`documents.scan_pool`, shared fairly among callers) hashes and scans for pickles the bytes
it holds. A request may begin in a partial last chunk (a resumable upload
continued): that chunk is read back once and rewritten. The upload's lease in the registry
is renewed as bytes are written; a lease lost stops the writer. The `fs.files` document is
not the writer's business: it is written once the bytes are all stored (`FileStore.add_file`).
"""

import asyncio
import contextlib
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from flrepo.documents.errors import NotFound
from flrepo.documents.scan_pool import ScanPool
from flrepo.documents.upload_registry import Lease
from flrepo.scanner.stream import FileScanner
from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

CHUNK_SIZE = 255 * 1024  # GridFS's default: every file this repository writes has it
CHUNKS_PER_WRITE = 8  # 2 MiB per round trip: a request holds two writes' worth at most
RENEW_EVERY_S = 1.0  # a writer kept busy records its offset and renews its lease this often


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> "Hasher": ...


@dataclass
class Inspection:
    """The sha256 and pickle scan of a file's first `offset` bytes."""

    offset: int
    hasher: Hasher
    scanner: FileScanner
    whole: bool = True  # False if some bytes may have been missed: never kept then

    @classmethod
    def start(cls, scanner: FileScanner | None = None) -> "Inspection":
        return cls(0, hashlib.sha256(), scanner or FileScanner())

    def feed(self, pieces: list[bytes]) -> None:
        """Hash and scan `pieces`, the bytes that follow those seen (run on a thread)."""
        try:
            for piece in pieces:
                self.hasher.update(piece)
                if not self.scanner.done:
                    self.scanner.feed(piece)
        except BaseException:
            self.whole = False
            raise


class ChunkWriter:
    """Appends bytes to the chunks of the file `lease` is for, from byte `offset` on.

    Bytes gather in `pending` until CHUNKS_PER_WRITE chunks are there; then they are cut
    into chunk documents and written while the next chunks gather, and hashed and scanned
    from those documents (no further copy). The next write starts once the last has
    finished, so writes land in order and a request holds two writes' worth of bytes at
    most. A write that failed is tried again by `finish`. With `record_as_written`, the
    offset past the whole chunks written is recorded with each renewal of the lease, so
    that a server that dies loses little; `finish` records the final offset in any case.
    Hashing and scanning run on `scans`, as the work of the caller `owner`.
    """

    def __init__(
        self,
        chunks: AsyncCollection,
        lease: Lease,
        offset: int,
        inspection: Inspection,
        scans: ScanPool,
        owner: str = "",
        record_as_written: bool = False,
    ) -> None:
        self.chunks = chunks
        self.scans = scans
        self.owner = owner
        self.lease = lease
        self.files_id = lease.oid
        self.offset = offset
        self.inspection = inspection
        self.record_as_written = record_as_written
        self.first_n = offset // CHUNK_SIZE
        self.n = self.first_n  # index of the first chunk not yet written
        self.cut: list[dict[str, Any]] = []  # chunks n, n+1, … cut from `pending`, not written
        self.pending = bytearray()  # the bytes that follow those cut
        self.inspected = offset  # the bytes before this have been hashed and scanned
        self.old_tail = b""
        self.received = 0
        self.renewed_at = -math.inf  # when the lease was last renewed (and the offset recorded)
        self._write_task: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Pick up the partial last chunk, if the file has one."""
        tail = self.offset % CHUNK_SIZE
        if tail:
            doc = await self.chunks.find_one({"files_id": self.files_id, "n": self.first_n})
            if doc is None or len(doc["data"]) < tail:
                raise NotFound("the upload's stored bytes are incomplete")
            self.old_tail = bytes(doc["data"][:tail])
            self.pending += self.old_tail

    @property
    def end(self) -> int:
        """The offset past the last byte received."""
        return self.offset + self.received

    async def add(self, piece: bytes) -> None:
        self.pending += piece
        self.received += len(piece)
        if len(self.pending) >= CHUNKS_PER_WRITE * CHUNK_SIZE:
            await self._write(full_only=True)

    async def finish(self) -> int:
        """Write what is pending, the partial last chunk too; record and return the offset.

        The lease renewed last proves that no chunk was swept meanwhile: the sweep removes an
        upload's bytes only once it has removed the upload from the registry.
        """
        await self._write(full_only=False)
        await self._settle()
        await self.lease.renew({"offset": self.end})
        self.inspection.offset = self.end
        return self.end

    async def roll_back(self) -> None:
        """Undo the chunks written: the file is as it was before this writer began."""
        with contextlib.suppress(Exception):
            await self._settle()  # so that no write lands after the deletion
        files_id = self.files_id
        await self.chunks.delete_many({"files_id": files_id, "n": {"$gt": self.first_n}})
        if self.old_tail:
            await self.chunks.update_one(
                {"files_id": files_id, "n": self.first_n}, {"$set": {"data": self.old_tail}}
            )
        else:
            await self.chunks.delete_one({"files_id": files_id, "n": self.first_n})

    async def _write(self, full_only: bool) -> None:
        """Once the write in progress is done, cut the chunks of `pending` (the full ones,
        and with `full_only` false the partial last one too) and start writing them, after
        any that a failed write left."""
        await self._settle()
        size = len(self.pending)
        count = size // CHUNK_SIZE if full_only else -(-size // CHUNK_SIZE)
        if count:
            n = self.n + len(self.cut)
            view = memoryview(self.pending)
            self.cut += [
                {
                    "files_id": self.files_id,
                    "n": n + i,
                    "data": bytes(view[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]),
                }
                for i in range(count)
            ]
            view.release()
            # a new buffer: after a `del` at its front, every `+=` would copy the whole buffer
            self.pending = self.pending[count * CHUNK_SIZE :]
        if self.cut:
            self._write_task = asyncio.ensure_future(self._store(self.cut))

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

    def _uninspected(self, docs: list[dict[str, Any]]) -> list[bytes]:
        """The bytes of `docs` not yet hashed and scanned (a partial chunk begun before this
        writer, or a write tried again, holds bytes that were)."""
        pieces = []
        for doc in docs:
            start = doc["n"] * CHUNK_SIZE
            end = start + len(doc["data"])
            if end > self.inspected:
                skip = self.inspected - start
                pieces.append(doc["data"][skip:] if skip > 0 else doc["data"])
                self.inspected = end
        return pieces

    async def _store(self, docs: list[dict[str, Any]]) -> None:
        """Write `docs` (chunks n, n+1, …) while their bytes are hashed and scanned on a
        thread of the scan pool."""
        pieces = self._uninspected(docs)
        read = asyncio.ensure_future(self.scans.run(self.owner, self.inspection.feed, pieces))
        try:
            if time.monotonic() - self.renewed_at >= RENEW_EVERY_S:
                await self._renew(self._written())  # still ours?
            try:
                # the chunk the writer began in may exist (a partial last chunk): replace it;
                # the others are new, unless a writer that died left them (then replace all)
                ops: list[InsertOne | ReplaceOne] = list(map(InsertOne, docs))
                if docs[0]["n"] == self.first_n:
                    first = {"files_id": self.files_id, "n": self.first_n}
                    ops[0] = ReplaceOne(first, docs[0], upsert=True)
                await self.chunks.bulk_write(ops)
            except BulkWriteError:
                for doc in docs:
                    doc.pop("_id", None)  # as the insert set it: the chunk keeps its own
                await self.chunks.bulk_write(
                    [
                        ReplaceOne({"files_id": self.files_id, "n": d["n"]}, d, upsert=True)
                        for d in docs
                    ]
                )
        finally:
            await read
        self.cut = []
        self.n += sum(len(doc["data"]) == CHUNK_SIZE for doc in docs)
        # Recorded now unless the next write is waiting already (the database is what holds
        # the upload back) or there is nothing to record: then once a second, so that a
        # server that dies loses a second of bytes and the lease never runs out.
        written = self._written()
        waiting = len(self.pending) >= CHUNKS_PER_WRITE * CHUNK_SIZE
        if (written and not waiting) or time.monotonic() - self.renewed_at >= RENEW_EVERY_S:
            await self._renew(written)

    def _written(self) -> dict[str, Any]:
        """The offset to record: past the whole chunks written, unless that is before where
        this writer began, or its bytes are recorded only at the end."""
        if self.record_as_written and self.n > self.first_n:
            return {"offset": self.n * CHUNK_SIZE}
        return {}

    async def _renew(self, fields: dict[str, Any]) -> None:
        await self.lease.renew(fields)
        self.renewed_at = time.monotonic()
