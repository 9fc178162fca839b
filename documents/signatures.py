"""A file's signature as it is stored: its bundle verified against the trusted keys, under
the signature policy (`report` records every state, `require` refuses all but VERIFIED)."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from flrepo.documents.errors import SignatureRefused
from flrepo.documents.keys import trusted_keys
from flrepo.signing.bundles import verify_bundle
from flrepo.signing.keys import TrustedKey
from flrepo.signing.states import (
    UNSIGNED,
    FileSignature,
    SignaturePolicy,
    SignatureState,
    Verification,
)

# The bundle sent with a file, read when the file's bytes are stored (it may follow them).
Bundle = Callable[[], Awaitable[bytes | None]]


def now() -> datetime:
    """The time, to the millisecond, as BSON keeps it."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def verify(
    bundle: bytes, sha256: str | None, keys: list[TrustedKey] | None = None
) -> Verification:
    """The bundle checked against `keys` (default: the trusted keys now), on a thread (the
    checks are CPU work)."""
    if not sha256:
        return Verification(SignatureState.INVALID, detail="the file has no sha256 on record")
    trusted = await trusted_keys() if keys is None else keys
    return await asyncio.to_thread(verify_bundle, bundle, sha256, trusted)


class Signatures:
    """Signatures under one policy."""

    def __init__(self, policy: SignaturePolicy = "report") -> None:
        self.policy = policy

    def refuse_unsigned(self) -> None:
        """SignatureRefused under `require`, for an upload that brings no bundle at all."""
        self.allow(UNSIGNED)

    def allow(self, signature: FileSignature) -> FileSignature:
        """`signature`, unless the policy refuses a file signed so."""
        if self.policy == "require" and signature.state != SignatureState.VERIFIED:
            raise SignatureRefused(refusal(signature))
        return signature

    async def check(self, bundle: bytes | None, sha256: str | None) -> FileSignature:
        """The signature of a file with `sha256`; SignatureRefused if the policy refuses it."""
        if bundle is None:
            return self.allow(UNSIGNED)
        received = FileSignature(SignatureState.UNSIGNED, signed_at=now(), bundle=bundle)
        return self.allow(received.checked(await verify(bundle, sha256)))


def refusal(signature: FileSignature) -> str:
    """Why `require` refuses a file signed so."""
    if signature.state == SignatureState.UNSIGNED:
        return (
            "this repository requires files signed by a trusted key: send an OpenSSF "
            "model-signing bundle as 'signature'"
        )
    why = f": {signature.detail}" if signature.detail else ""
    return (
        "this repository requires files signed by a trusted key; "
        f"the signature is {signature.state.value}{why}"
    )
