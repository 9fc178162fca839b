"""tus header values: Upload-Metadata, Upload-Checksum, Upload-Expires."""

import base64
import binascii
import hashlib
import re
from datetime import datetime
from email.utils import format_datetime

from flrepo.documents.errors import InvalidInput
from flrepo.documents.uploads import BodyCheck
from flrepo.transfer.digests import header_sha256

KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what metadata keys may be (kind, model_name, …)
# Upload-Checksum algorithms, by their tus names (sha1 is the one every client knows)
CHECKSUMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}


def parse_metadata(value: str | None) -> dict[str, str]:
    """`key base64,key base64,key` as a dict of UTF-8 strings (a key alone maps to "")."""
    metadata: dict[str, str] = {}
    for pair in (value or "").split(","):
        if not pair.strip():
            continue
        key, _, encoded = pair.strip().partition(" ")
        if not KEY.fullmatch(key) or key in metadata:
            raise InvalidInput(f"Upload-Metadata has an invalid or repeated key {key!r}")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(f"Upload-Metadata value of {key!r} is not base64 UTF-8") from None
    return metadata


def format_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key
        for key, value in metadata.items()
    )


def body_check(upload_checksum: str | None, content_digest: str | None) -> BodyCheck | None:
    """What the request's bytes must hash to: `Upload-Checksum`, else `Content-Digest`."""
    if upload_checksum:
        name, _, encoded = upload_checksum.strip().partition(" ")
        if name not in CHECKSUMS:
            raise InvalidInput(f"Upload-Checksum algorithm {name!r} is not supported")
        try:
            expected = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise InvalidInput("Upload-Checksum is not base64") from None
        return BodyCheck(CHECKSUMS[name](), expected, "Upload-Checksum")
    sha256 = header_sha256(content_digest, "Content-Digest")
    if sha256:
        return BodyCheck(hashlib.sha256(), bytes.fromhex(sha256), "Content-Digest")
    return None


def http_date(moment: datetime) -> str:
    """RFC 9110's date format, as Upload-Expires has it."""
    return format_datetime(moment, usegmt=True)
