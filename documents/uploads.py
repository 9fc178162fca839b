"""Resumable uploads kept in the database, so that any server can continue one.

An upload is a document in the upload registry (`documents.upload_registry`): length,
offset, where the file goes, expiry; its bytes so far are `fs.chunks` documents whose
`files_id` is the upload's `_id`, written by the one chunk writer (`documents.chunk_writer`).
A last chunk that is not yet full is stored as it is and rewritten as more bytes arrive.
Once every byte is there, the `fs.files` document is written with the same `_id`, which
makes the chunks an ordinary GridFS file. Until then, chunks whose `files_id` is an upload's
`_id` belong to that upload, not to a lost file.

sha256 and pickle-scan state cannot be stored, so each server keeps the running hash and
scan of the uploads it received bytes for; a server that continues an upload another began
first hashes and scans the bytes already stored (once), reading them back from the database.
"""

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from flrepo.documents.chunk_writer import CHUNK_SIZE, ChunkWriter, Hasher, Inspection
from flrepo.documents.errors import (
    DigestMismatch,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    TooLarge,
    UploadBusy,
)
from flrepo.documents.files import FileStore, StoredFile, object_id
from flrepo.documents.signatures import Bundle
from flrepo.documents.upload_registry import now

KEPT = 1024  # uploads whose running hash and scan are kept; one evicted is recomputed


def taken_over() -> UploadBusy:
    """The error of a request whose upload another request took over, or the sweep removed."""
    return UploadBusy("the upload was taken over or removed while it was being written")


@dataclass(frozen=True)
class BodyCheck:
    """A digest the bytes of one request must have (tus Upload-Checksum, Content-Digest)."""

    hasher: Hasher
    expected: bytes
    what: str


@dataclass(frozen=True)
class Upload:
    """One resumable upload's registry document."""

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


class UploadStore:
    """Resumable uploads: their documents in the upload registry, their bytes in `fs.chunks`.

    A resumable upload's lease is its expiry, renewed as its bytes arrive; uploads that
    expired are removed by the one sweep (`documents.integrity.sweep`).
    """

    def __init__(self, files: FileStore, expiry: timedelta) -> None:
        self.registry = files.registry
        self.files = files
        self.expiry = expiry
        self._kept: OrderedDict[str, Inspection] = OrderedDict()

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
        await self.registry.add(doc)
        return Upload.from_document(doc)

    async def get(self, upload_id: str) -> Upload | None:
        """The upload, unless it does not exist or has expired."""
        oid = object_id(upload_id)
        doc = await self.registry.resumable(oid) if oid else None
        return Upload.from_document(doc) if doc else None

    async def expect(self, upload: Upload, sha256: str) -> Upload:
        """Record the sha256 the whole file must have; one already recorded must agree."""
        if upload.sha256 and upload.sha256 != sha256:
            raise InvalidInput(f"the upload was announced with sha256 {upload.sha256}")
        await self.registry.update(ObjectId(upload.id), {"sha256": sha256})
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
        query = {
            "_id": oid,
            "length": {"$exists": True},
            "offset": offset,
            "fileId": None,
            "expires": {"$gt": now()},
        }
        taken = await self.registry.take(query, self.expiry, taken_over)
        if taken is None:
            current = await self.get(upload.id)
            if current is None or current.file_id:
                raise NotFound("no such upload in progress")
            if current.offset != offset:
                raise OffsetMismatch(f"the upload is at offset {current.offset}, not {offset}")
            raise UploadBusy("another request is writing to this upload")
        doc, lease = taken
        upload = Upload.from_document(doc)
        try:
            async with self.files.upload_slots:  # counts against the server's upload budget
                # Taken, not shared: kept again only once the bytes it has seen are stored.
                inspection = await self._inspection(upload)
                writer = ChunkWriter(
                    self.files.chunks, lease, upload.offset, inspection, check is None
                )
                await writer.start()
                try:
                    async for piece in body:
                        if writer.end + len(piece) > upload.length:
                            raise TooLarge(
                                f"the upload is {upload.length} bytes long; more were sent"
                            )
                        if check is not None:
                            check.hasher.update(piece)
                        await writer.add(piece)
                    if check is not None and check.hasher.digest() != check.expected:
                        raise DigestMismatch(f"the bytes sent do not match {check.what}")
                    await writer.finish()
                except BaseException:
                    if check is None:
                        await writer.finish()  # keep what arrived
                        self._keep(upload.id, inspection)
                    else:
                        await writer.roll_back()
                    raise
                self._keep(upload.id, inspection)
        finally:
            await lease.release()
        return Upload.from_document(await self._document(upload.id))

    async def store(self, upload: Upload, bundle: Bundle | None = None) -> StoredFile:
        """The `fs.files` document of a complete upload, written now or found written before.

        Raises DigestMismatch if the bytes' sha256 is not the one the client announced, and
        DangerousPickle for a DANGEROUS file under the `refuse` policy, SignatureRefused for
        one its `bundle` does not verify under the `require` policy: the file is not written
        then.
        """
        assert upload.complete
        existing = await self.files.get(upload.id)
        if existing is not None:
            return existing
        fields: dict[str, Any] = {"contentType": upload.content_type} if upload.content_type else {}
        fields.update(upload.extra)
        if upload.uploaded_name:
            fields["uploadedName"] = upload.uploaded_name
        return await self.files.add_file(
            ObjectId(upload.id),
            upload.filename,
            upload.length,
            await self._inspection(upload),
            upload.sha256,
            fields,
            bundle,
        )

    async def mark_done(self, upload: Upload, file_id: str) -> Upload:
        """The upload's file is attached: keep the record (until it expires) to say so."""
        await self.registry.update(ObjectId(upload.id), {"fileId": file_id})
        self._kept.pop(upload.id, None)
        return Upload.from_document({**await self._document(upload.id), "fileId": file_id})

    async def delete(self, upload: Upload) -> None:
        """Forget the upload; its bytes too unless they became a stored file."""
        oid = ObjectId(upload.id)
        self._kept.pop(upload.id, None)
        if await self.registry.remove(oid) and await self.files.get(upload.id) is None:
            await self.files.chunks.delete_many({"files_id": oid})

    async def _document(self, upload_id: str) -> dict[str, Any]:
        doc = await self.registry.document(ObjectId(upload_id))
        if doc is None:
            raise NotFound("no such upload in progress")
        return doc

    async def _inspection(self, upload: Upload) -> Inspection:
        """The hash and scan of the upload's bytes so far, taken from those kept (no longer
        kept then) or caught up from the database, its chunks read a range at a time."""
        inspection = self._kept.pop(upload.id, None)
        if inspection is None or not inspection.whole or inspection.offset > upload.offset:
            inspection = Inspection.start()
        oid = ObjectId(upload.id)
        async for data in self.files.read_chunks(oid, CHUNK_SIZE, inspection.offset, upload.offset):
            inspection.hasher.update(data)
            if not inspection.scanner.done:
                await asyncio.to_thread(inspection.scanner.feed, data)
        inspection.offset = upload.offset
        return inspection

    def _keep(self, upload_id: str, inspection: Inspection) -> None:
        self._kept[upload_id] = inspection
        self._kept.move_to_end(upload_id)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
