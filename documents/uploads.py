"""Resumable uploads kept in the database, so that any server can continue one.

An upload is a document in the upload registry (`documents.upload_registry`): length,
offset, where the file goes, expiry; its bytes so far are `fs.chunks` documents whose
`files_id` is the upload's `_id`, written by the one chunk writer (`documents.chunk_writer`).
A last chunk that is not yet full is stored as it is and rewritten as more bytes arrive.
Once every byte is there, the `fs.files` document is written with the same `_id`, which
makes the chunks an ordinary GridFS file. Until then, chunks whose `files_id` is an upload's
`_id` belong to that upload, not to a lost file.

sha256 and pickle-scan state cannot be stored, so each server keeps the running hash and
scan of the uploads it received bytes for, of a bounded number of them (`KeptInspections`);
a server that continues an upload another began, or whose state it let go, first hashes and
scans the bytes already stored (once), reading them back from the database.

Each upload is known by a random tus id and belongs to the caller that created it (`owner`):
the operations show it to nobody else.
"""

import secrets
from collections import Counter, OrderedDict
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
from flrepo.documents.files import FileStore, StoredFile
from flrepo.documents.signatures import Bundle
from flrepo.documents.upload_registry import now
from flrepo.documents.upload_shares import arriving


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

    id: str  # the tus id (the `_id` of an upload an earlier version began)
    oid: ObjectId  # its `_id`: the id of its chunks, and of its file once complete
    owner: str  # the key of the caller that created it ("" if an earlier version did)
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
            id=doc.get("tusId") or str(doc["_id"]),
            oid=doc["_id"],
            owner=doc.get("owner") or "",
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


class KeptInspections:
    """The running hash and scan of unfinished uploads, at most `limit` of them and at most
    `per_owner` of one caller's; past either, the least recently used goes first (its
    state is recomputed from the stored chunks when its upload continues or completes).

    A scan's state has a bound of its own (the scanner's), so this bounds the memory that
    unfinished uploads hold on a server, and what one caller can make it hold.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.per_owner = max(1, self.limit // 4) if self.limit else 0
        self._kept: OrderedDict[ObjectId, tuple[str, Inspection]] = OrderedDict()
        self._by_owner: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._kept)

    def take(self, oid: ObjectId) -> Inspection | None:
        """The upload's inspection, no longer kept (a request holds it meanwhile)."""
        kept = self._kept.pop(oid, None)
        if kept is None:
            return None
        self._forget_owner(kept[0])
        return kept[1]

    def keep(self, oid: ObjectId, owner: str, inspection: Inspection) -> None:
        self.take(oid)
        if not self.limit or not inspection.whole:
            return
        if self._by_owner[owner] >= self.per_owner:
            oldest = next(k for k, (o, _) in self._kept.items() if o == owner)
            self.take(oldest)
        while len(self._kept) >= self.limit:
            self.take(next(iter(self._kept)))
        self._kept[oid] = (owner, inspection)
        self._by_owner[owner] += 1

    def _forget_owner(self, owner: str) -> None:
        self._by_owner[owner] -= 1
        if not self._by_owner[owner]:
            del self._by_owner[owner]


class UploadStore:
    """Resumable uploads: their documents in the upload registry, their bytes in `fs.chunks`.

    A resumable upload's lease is its expiry, renewed as its bytes arrive; uploads that
    expired are removed by the one sweep (`documents.integrity.sweep`). Each caller's share
    of uploads (at once, unfinished, bytes reserved) is the file store's `shares`.
    """

    def __init__(self, files: FileStore, expiry: timedelta) -> None:
        self.registry = files.registry
        self.files = files
        self.expiry = expiry
        self.kept = KeptInspections(files.shares.kept_scans)

    async def create(
        self,
        length: int,
        filename: str,
        extra: dict[str, Any],
        metadata: dict[str, str],
        uploaded_name: str | None,
        content_type: str | None,
        sha256: str | None,
        owner: str = "",
    ) -> Upload:
        """A new, empty upload of `length` bytes for the caller `owner`; TooManyRequests if
        that caller would have too many unfinished uploads, or too many bytes of them."""
        if length > self.files.max_bytes:
            raise TooLarge(f"the file exceeds the upload limit of {self.files.max_bytes} bytes")
        doc = {
            "_id": ObjectId(),
            "tusId": secrets.token_urlsafe(16),  # 128 random bits
            "owner": owner,
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
        shares = self.files.shares
        await self.registry.add(
            doc, shares.unfinished_per_caller, shares.unfinished_bytes_per_caller
        )
        return Upload.from_document(doc)

    async def get(self, upload_id: str) -> Upload | None:
        """The upload with this tus id, unless it does not exist or has expired."""
        doc = await self.registry.resumable(upload_id)
        return Upload.from_document(doc) if doc else None

    async def expect(self, upload: Upload, sha256: str) -> Upload:
        """Record the sha256 the whole file must have; one already recorded must agree."""
        if upload.sha256 and upload.sha256 != sha256:
            raise InvalidInput(f"the upload was announced with sha256 {upload.sha256}")
        await self.registry.update(upload.oid, {"sha256": sha256})
        return Upload.from_document({**await self._document(upload.oid), "sha256": sha256})

    async def append(
        self,
        upload: Upload,
        offset: int,
        body: AsyncIterator[bytes],
        check: BodyCheck | None = None,
    ) -> Upload:
        """Add `body` at `offset`, which must be the upload's offset.

        Without `check`, what arrives is kept even if the body ends early (a dropped link)
        or stalls past the idle timeout (UploadIdle is raised then), and written as it
        arrives, so a server that dies loses little. With `check`, the body's bytes are kept
        only if they have the digest named; else none of them are. The request counts
        against its owner's share of uploads at once (TooManyRequests past it).
        """
        query = {
            "_id": upload.oid,
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
            async with self.files.upload_slots.hold(upload.owner):
                # Taken, not shared: kept again only once the bytes it has seen are stored.
                inspection = await self._inspection(upload)
                writer = ChunkWriter(
                    self.files.chunks,
                    lease,
                    upload.offset,
                    inspection,
                    self.files.scans,
                    upload.owner,
                    record_as_written=check is None,
                )
                await writer.start()
                try:
                    async for piece in arriving(body, self.files.shares.idle_timeout_s):
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
                        self.kept.keep(upload.oid, upload.owner, inspection)
                    else:
                        await writer.roll_back()
                    raise
                self.kept.keep(upload.oid, upload.owner, inspection)
        finally:
            await lease.release()
        return Upload.from_document(await self._document(upload.oid))

    async def store(self, upload: Upload, bundle: Bundle | None = None) -> StoredFile:
        """The `fs.files` document of a complete upload, written now or found written before.

        Raises DigestMismatch if the bytes' sha256 is not the one the client announced, and
        DangerousPickle for a DANGEROUS file under the `refuse` policy, SignatureRefused for
        one its `bundle` does not verify under the `require` policy: the file is not written
        then.
        """
        assert upload.complete
        existing = await self.files.get(str(upload.oid))
        if existing is not None:
            return existing
        fields: dict[str, Any] = {"contentType": upload.content_type} if upload.content_type else {}
        fields.update(upload.extra)
        if upload.uploaded_name:
            fields["uploadedName"] = upload.uploaded_name
        return await self.files.add_file(
            upload.oid,
            upload.filename,
            upload.length,
            await self._inspection(upload),
            upload.sha256,
            fields,
            bundle,
        )

    async def mark_done(self, upload: Upload, file_id: str) -> Upload:
        """The upload's file is attached: keep the record (until it expires) to say so."""
        await self.registry.update(upload.oid, {"fileId": file_id})
        self.kept.take(upload.oid)
        return Upload.from_document({**await self._document(upload.oid), "fileId": file_id})

    async def delete(self, upload: Upload) -> None:
        """Forget the upload; its bytes too unless they became a stored file."""
        self.kept.take(upload.oid)
        if await self.registry.remove(upload.oid) and await self.files.get(str(upload.oid)) is None:
            await self.files.chunks.delete_many({"files_id": upload.oid})

    async def _document(self, oid: ObjectId) -> dict[str, Any]:
        doc = await self.registry.document(oid)
        if doc is None:
            raise NotFound("no such upload in progress")
        return doc

    async def _inspection(self, upload: Upload) -> Inspection:
        """The hash and scan of the upload's bytes so far, taken from those kept (no longer
        kept then) or caught up from the database, its chunks read a range at a time and
        hashed and scanned on the scan pool as the owner's work."""
        inspection = self.kept.take(upload.oid)
        if inspection is None or not inspection.whole or inspection.offset > upload.offset:
            inspection = Inspection.start(self.files.scanner_for(upload.filename))
        chunks = self.files.read_chunks(upload.oid, CHUNK_SIZE, inspection.offset, upload.offset)
        async for data in chunks:
            await self.files.scans.run(upload.owner, inspection.feed, [data])
        inspection.offset = upload.offset
        return inspection
