"""Signatures of stored files: a bundle sent after the file, the bundle served, the trusted
keys managed, and every signature checked again once the keys change."""

from collections import Counter
from datetime import UTC, datetime

from flrepo.documents.errors import AlreadyExists, InvalidInput, NotFound
from flrepo.documents.files import FileStore, StoredFile
from flrepo.documents.keys import MAX_KEYS, SigningKey, trusted_keys
from flrepo.documents.signatures import verify
from flrepo.operations.access import requires
from flrepo.operations.common import insert_new
from flrepo.operations.validation import check_name
from flrepo.signing.bundles import MAX_BUNDLE_BYTES
from flrepo.signing.keys import read_key
from flrepo.signing.states import SignatureState

REVERIFY_BATCH = 100  # signed files read at a time by `reverify`


@requires("write")
async def sign_file(files: FileStore, file_id: str, bundle: bytes) -> StoredFile:
    """Check `bundle` against the stored file and record its signature in place of any other.

    Under the `require` policy a bundle that does not verify is refused (SignatureRefused)
    and the file keeps the signature it had.
    """
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise InvalidInput(f"a signature bundle must be at most {MAX_BUNDLE_BYTES} bytes")
    record = await files.get(file_id)
    if record is None:
        raise NotFound("no such file")
    signature = await files.signatures.check(bundle, record.sha256)
    if not await files.set_signature(record, signature):
        raise NotFound("no such file")
    signed = await files.get(file_id)
    if signed is None:
        raise NotFound("no such file")
    return signed


@requires("read")
async def file_bundle(files: FileStore, file_id: str) -> bytes:
    """The signature bundle stored with the file; NotFound if it has none."""
    record = await files.get(file_id)
    if record is None:
        raise NotFound("no such file")
    if record.signature.bundle is None:
        raise NotFound("the file has no signature")
    return record.signature.bundle


@requires("admin")
async def reverify(files: FileStore) -> Counter[SignatureState]:
    """Check every stored bundle against the trusted keys now; how many files read each state.

    Run after keys are added or removed: a state that changed is stored.
    """
    keys = await trusted_keys()
    states: Counter[SignatureState] = Counter()
    after = None
    while batch := await files.signed(after, REVERIFY_BATCH):
        for record in batch:
            after = record.document["_id"]
            signature = record.signature
            assert signature.bundle is not None
            checked = signature.checked(await verify(signature.bundle, record.sha256, keys))
            if checked != signature:
                await files.set_signature(record, checked)
            states[checked.state] += 1
    return states


@requires("admin")
async def add_key(name: str, pem: bytes) -> SigningKey:
    """Trust a public key or certificate (PEM) under `name`."""
    name = check_name(name, "key name")
    try:
        key = read_key(name, pem)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if await SigningKey.find_all().count() >= MAX_KEYS:
        raise InvalidInput(f"at most {MAX_KEYS} keys may be trusted; remove one first")
    if await SigningKey.find_one({"fingerprint": key.fingerprint}):
        raise AlreadyExists("this key is already trusted under another name")
    document = SigningKey(
        name=name,
        kind=key.kind,
        pem=key.pem.decode(),
        fingerprint=key.fingerprint,
        subject=key.subject,
        added=datetime.now(UTC),
    )
    return await insert_new(document, f"key {name!r}")


@requires("admin")
async def list_keys() -> list[SigningKey]:
    return await SigningKey.find_all().sort("name").limit(MAX_KEYS).to_list()


@requires("admin")
async def remove_key(name: str) -> None:
    deleted = await SigningKey.find_one({"name": check_name(name, "key name")}).delete()
    if deleted is None or not deleted.deleted_count:
        raise NotFound(f"key {name!r} is not trusted")
