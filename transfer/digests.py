"""RFC 9530 digest fields (`Repr-Digest`, `Content-Digest`): the sha-256 a client sends."""

import base64
import binascii
from collections.abc import Mapping

from flrepo.documents.errors import InvalidInput


def header_sha256(value: str | None, name: str) -> str | None:
    """The `sha-256` of a digest field as hex; None if absent or only other algorithms given.

    The field is a structured dictionary: `sha-256=:<base64 of 32 bytes>:, sha-512=:…:`.
    """
    if not value:
        return None
    for member in value.split(","):
        key, _, item = member.strip().partition("=")
        if key.strip().lower() != "sha-256":
            continue
        item = item.strip().split(";", 1)[0].strip()  # parameters, if any, say nothing here
        if len(item) < 2 or item[0] != ":" or item[-1] != ":":
            raise InvalidInput(f"{name}: sha-256 must be a byte sequence, :base64:")
        try:
            digest = base64.b64decode(item[1:-1], validate=True)
        except binascii.Error:
            raise InvalidInput(f"{name}: sha-256 is not valid base64") from None
        if len(digest) != 32:
            raise InvalidInput(f"{name}: sha-256 must be 32 bytes, not {len(digest)}")
        return digest.hex()
    return None


def file_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 a client says an uploaded file has, from `Repr-Digest` or `Content-Digest`.

    For an upload both name the file's bytes (the representation stored); if both are sent
    they must agree.
    """
    found = {
        name: header_sha256(headers.get(name), name) for name in ("Repr-Digest", "Content-Digest")
    }
    digests = {d for d in found.values() if d}
    if len(digests) > 1:
        raise InvalidInput("Repr-Digest and Content-Digest name different sha-256 values")
    return digests.pop() if digests else None


def sha256_field(hex_digest: str) -> str:
    """A digest field value for a sha256 given in hex."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(hex_digest)).decode()}:"
