"""Writing one GridFS file chunk by chunk as its bytes arrive, in GridFS's own layout.

The chunks go to `fs.chunks` as they fill, a few per insert, each insert running while the next
few chunks arrive; the `fs.files` document, which makes the file exist for readers, is written
last. While the upload runs, its id is claimed
in `fs.uploads` (renewed as bytes arrive), so that the orphan sweep leaves its chunks alone.
"""

import asyncio
import contextlib
import time
from typing import Any

from bson import ObjectId
from flrepo.documents.errors import InvalidInput
from pymongo.asynchronous.database import AsyncDatabase

CHUNK_SIZE = 255 * 1024  # GridFS's default
CHUNKS_PER_INSERT = 8  # about 2 MiB per insert; at most two inserts' worth held at a time
CLAIM_REFRESH_S = 60.0  # how often a running upload renews its claim
CLAIM_TTL_S = 600.0  # a claim not renewed for this long is an abandoned upload's


class ChunkWriter:
    """One file being written; `write` pieces, then `close` (or `abort` to remove it all).

    To continue an upload, pass its `file_id` and the `n` chunks (of `chunk_size` bytes each)
    already stored; only whole chunks are stored before `close`.
    """

    def __init__(
        self,
        db: AsyncDatabase,
        file_id: ObjectId | None = None,
        n: int = 0,
        chunk_size: int = CHUNK_SIZE,
        chunks_per_insert: int | None = None,
    ) -> None:
        self.files = db["fs.files"]
        self.chunks = db["fs.chunks"]
        self.uploads = db["fs.uploads"]
        self.file_id = file_id or ObjectId()
        self.n = n
        self.length = n * chunk_size
        self.chunk_size = chunk_size
        self.chunks_per_insert = chunks_per_insert or CHUNKS_PER_INSERT
        self._buffer = bytearray()
        self._pending: list[dict[str, Any]] = []
        self._claimed_at: float | None = None
        self._inserting: asyncio.Future | None = None

    async def claim(self) -> None:
        """Mark the upload as in progress (again): the sweep skips claimed ids."""
        await self.uploads.update_one(
            {"_id": self.file_id}, {"$currentDate": {"claimed": True}}, upsert=True
        )
        self._claimed_at = time.monotonic()

    async def write(self, data: bytes) -> None:
        """Add bytes; every full chunk is stored once a few have gathered."""
        if self._claimed_at is None or time.monotonic() - self._claimed_at > CLAIM_REFRESH_S:
            await self.claim()
        self._buffer += data
        self.length += len(data)
        while len(self._buffer) >= self.chunk_size:
            self._take(self.chunk_size)
            if len(self._pending) >= self.chunks_per_insert:
                await self._insert()

    def _take(self, size: int) -> None:
        piece = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._pending.append({"files_id": self.file_id, "n": self.n, "data": piece})
        self.n += 1

    async def _insert(self) -> None:
        """Start inserting the pending chunks, once the previous insert has finished."""
        await self._finish_insert()
        if self._pending:
            self._inserting = asyncio.ensure_future(self.chunks.insert_many(self._pending))
            self._pending = []

    async def _finish_insert(self) -> None:
        if self._inserting is not None:
            await asyncio.shield(self._inserting)  # even if we are cancelled, abort waits for it
            self._inserting = None

    async def flush(self) -> None:
        """Store every whole chunk received so far (the remainder stays until `close`)."""
        await self._insert()
        await self._finish_insert()

    async def close(self, filename: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """Store the rest and the `fs.files` document (upload date set by the database)."""
        if self._claimed_at is None:
            await self.claim()
        if self._buffer:
            self._take(len(self._buffer))
        await self.flush()
        if await self.chunks.count_documents({"files_id": self.file_id}) != self.n:
            # idle past its claim, it was taken for abandoned and swept
            raise InvalidInput("the upload stalled too long and was given up; send it again")
        document = {
            "length": self.length,
            "chunkSize": self.chunk_size,
            "filename": filename,
            **(fields or {}),
        }
        await self.files.update_one(
            {"_id": self.file_id},
            {"$setOnInsert": document, "$currentDate": {"uploadDate": True}},
            upsert=True,
        )
        await self.uploads.delete_one({"_id": self.file_id})
        stored = await self.files.find_one({"_id": self.file_id})
        assert stored is not None
        return stored

    async def abort(self) -> None:
        """Remove every chunk written and the claim."""
        self._buffer.clear()
        self._pending = []
        with contextlib.suppress(Exception):
            await self._finish_insert()  # so that no insert lands after the deletion
        await self.chunks.delete_many({"files_id": self.file_id})
        await self.uploads.delete_one({"_id": self.file_id})
