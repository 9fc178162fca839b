"""Resumable uploads: where one goes (from its metadata), and attaching it once complete.

A complete upload is attached exactly as a PUT or GraphQL upload of the same file would be:
the same key checks, the same GridFS name and fields, the same replacement of the old file.

An upload belongs to the caller that created it (`Caller.key`: its token's name, else its
address): to any other it does not exist, as an unknown id does not; a caller without a token
asking for a token's upload is told to authenticate.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

from flrepo.documents.errors import (
    DangerousPickle,
    DigestMismatch,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    SignatureRefused,
    Unauthenticated,
)
from flrepo.documents.signatures import Bundle
from flrepo.documents.uploads import BodyCheck, Upload, UploadStore
from flrepo.operations.access import current_caller, requires
from flrepo.operations.common import FileTarget, attach_stored, check_target
from flrepo.operations.inference import inferencer_file_target, service_file_target
from flrepo.operations.models import model_file_target
from flrepo.operations.results import weights_target
from flrepo.operations.strategies import strategy_file_target
from flrepo.operations.transformations import transformation_file_target
from flrepo.operations.validation import check_sha256, clean_media_type, clean_uploaded_name
from flrepo.signing.bundles import MAX_BUNDLE_BYTES

KINDS: dict[str, tuple[tuple[str, ...], Callable[..., FileTarget[Any]]]] = {
    "model": (("model_name", "model_version"), model_file_target),
    "strategy": (("strategy_name",), strategy_file_target),
    "transformation": (("transformation_id",), transformation_file_target),
    "service": (("service_id",), service_file_target),
    "inferencer": (("inferencer_id",), inferencer_file_target),
    "weights": (
        ("model_name", "model_version", "training_id", "configuration_id"),
        weights_target,
    ),
}


def metadata_bundle(metadata: dict[str, str]) -> Bundle | None:
    """The signature bundle sent as `signature` in an upload's metadata, if one was."""
    text = metadata.get("signature")
    if text is None:
        return None
    bundle = text.encode()

    async def read() -> bytes:
        return bundle

    return read


def upload_target(metadata: dict[str, str]) -> FileTarget[Any]:
    """The document an upload's file is for: `kind` and that kind's keys."""
    kind = metadata.get("kind")
    if kind not in KINDS:
        raise InvalidInput(f"metadata 'kind' must be one of {', '.join(KINDS)}")
    keys, target = KINDS[kind]
    missing = [key for key in keys if key not in metadata]
    if missing:
        raise InvalidInput(f"metadata of a {kind} upload lacks {', '.join(missing)}")
    return target(*(metadata[key] for key in keys))


@requires("write")
async def begin_upload(
    uploads: UploadStore, length: int, metadata: dict[str, str], sha256: str | None
) -> Upload:
    """A new resumable upload, once its target exists: nothing is received for nothing.

    `filename` (or `name`, as Uppy sends it) is the name the file is uploaded as, `filetype`
    its media type, `signature` its model-signing bundle (JSON), checked once it is complete;
    under the `require` policy an upload without one is refused now.
    """
    if length < 0:
        raise InvalidInput("the upload length must not be negative")
    if len(metadata.get("signature", "").encode()) > MAX_BUNDLE_BYTES:
        raise InvalidInput(f"a signature bundle must be at most {MAX_BUNDLE_BYTES} bytes")
    if "signature" not in metadata:
        uploads.files.signatures.refuse_unsigned()
    target = upload_target(metadata)
    await check_target(target)
    upload = await uploads.create(
        length,
        target.filename,
        target.extra,
        metadata,
        clean_uploaded_name(metadata.get("filename") or metadata.get("name")),
        clean_media_type(metadata.get("filetype")),
        check_sha256(sha256),
        owner=current_caller().key,
    )
    return await finish_upload(uploads, upload) if upload.complete else upload


@requires("write")
async def continue_upload(
    uploads: UploadStore,
    upload: Upload,
    offset: int,
    body: AsyncIterator[bytes],
    check: BodyCheck | None = None,
    sha256: str | None = None,
) -> Upload:
    """Append bytes at `offset`; the last byte attaches the file."""
    if upload.file_id:  # complete: only a repeat of the last request, sending nothing more
        if offset != upload.length:
            raise OffsetMismatch(f"the upload is complete at offset {upload.length}")
        return upload
    if sha256 is not None:
        upload = await uploads.expect(upload, check_sha256(sha256) or "")
    upload = await uploads.append(upload, offset, body, check)
    return await finish_upload(uploads, upload) if upload.complete else upload


async def finish_upload(uploads: UploadStore, upload: Upload) -> Upload:
    """Attach a complete upload's file (again harmlessly, if it was already).

    A file whose sha256 is not the one announced, a DANGEROUS pickle under the `refuse`
    policy, one its signature does not verify under the `require` policy, or one whose target
    is gone, is discarded with the upload; the target keeps its old file.
    """
    if upload.file_id:
        return upload
    target = upload_target(upload.metadata)
    try:
        stored = await uploads.store(upload, metadata_bundle(upload.metadata))
        await attach_stored(uploads.files, target, stored)
    except (DigestMismatch, DangerousPickle, SignatureRefused, NotFound):
        await uploads.files.delete(str(upload.oid))
        await uploads.delete(upload)
        raise
    return await uploads.mark_done(upload, stored.id)


@requires("write")
async def get_upload(uploads: UploadStore, upload_id: str) -> Upload | None:
    """The caller's upload, completed if all its bytes arrived but a failure kept it from
    being attached; None if there is none of this id that is the caller's."""
    upload = _owned(await uploads.get(upload_id))
    if upload is not None and upload.complete and not upload.file_id:
        upload = await finish_upload(uploads, upload)
    return upload


@requires("write")
async def cancel_upload(uploads: UploadStore, upload_id: str) -> None:
    """Forget one of the caller's uploads and its bytes (an attached file stays attached)."""
    upload = _owned(await uploads.get(upload_id))
    if upload is None:
        raise NotFound("no such upload")
    await uploads.delete(upload)


def _owned(upload: Upload | None) -> Upload | None:
    """The upload if the current caller created it (or an earlier version, which recorded no
    owner, did); else None, or Unauthenticated for a token's upload asked for without one."""
    if upload is None or not upload.owner:
        return upload
    caller = current_caller()
    if upload.owner == caller.key:
        return upload
    if upload.owner.startswith("token:") and not caller.token:
        raise Unauthenticated("this upload belongs to a token: send it")
    return None
