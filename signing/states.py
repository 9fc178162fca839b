"""A file's signature state, as stored in its `fs.files` document under `signature`."""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal


class SignatureState(StrEnum):
    VERIFIED = "VERIFIED"  # a trusted key signed exactly these bytes
    INVALID = "INVALID"  # a malformed bundle, a bad signature, or a digest of other bytes
    UNTRUSTED = "UNTRUSTED"  # well-formed, but no trusted key or certificate vouches for it
    UNSIGNED = "UNSIGNED"  # no bundle was sent (files stored before signatures read so too)


# What an upload that is not VERIFIED gets: stored with its state, or refused.
SignaturePolicy = Literal["report", "require"]


@dataclass(frozen=True)
class Verification:
    """What checking a bundle found: the state, who signed (if a trusted key said so), why."""

    state: SignatureState
    signer: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class FileSignature:
    """A file's signature as stored: the verification, when the bundle came, and the bundle."""

    state: SignatureState
    signer: str | None = None
    detail: str = ""
    signed_at: datetime | None = None  # when the server received the bundle
    bundle: bytes | None = None

    def document(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "signer": self.signer,
            "detail": self.detail,
            "signedAt": self.signed_at,
            "bundle": self.bundle,
        }

    def checked(self, verification: Verification) -> "FileSignature":
        """The same bundle with the state a new check gave it."""
        return FileSignature(
            verification.state,
            verification.signer,
            verification.detail,
            self.signed_at,
            self.bundle,
        )

    @classmethod
    def from_document(cls, doc: dict[str, Any] | None) -> "FileSignature":
        """The stored signature; UNSIGNED when there is none."""
        if not isinstance(doc, dict) or doc.get("state") not in SignatureState.__members__:
            return UNSIGNED
        signed_at = doc.get("signedAt")
        bundle = doc.get("bundle")
        return cls(
            state=SignatureState(doc["state"]),
            signer=doc.get("signer") if isinstance(doc.get("signer"), str) else None,
            detail=doc.get("detail") if isinstance(doc.get("detail"), str) else "",
            signed_at=signed_at.replace(tzinfo=UTC) if isinstance(signed_at, datetime) else None,
            bundle=bytes(bundle) if isinstance(bundle, bytes) else None,
        )


UNSIGNED = FileSignature(SignatureState.UNSIGNED)
