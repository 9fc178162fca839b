"""Checks on client-supplied names, maps and pages; failures raise InvalidInput."""

import re
import unicodedata
from typing import Any

from flrepo.documents.errors import InvalidInput

MAX_NAME_LENGTH = 256
MAX_PAGE = 1000
INT64 = range(-(2**63), 2**63)  # the integers BSON can store


def check_name(value: Any, what: str) -> str:
    """A key part: 1 to 256 characters, no `/`, no control characters, no leading `$`."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    if "/" in value:
        raise InvalidInput(f"{what} must not contain '/'")
    if value.startswith("$"):
        raise InvalidInput(f"{what} must not start with '$'")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput(f"{what} must not contain control characters")
    return value


def check_object(value: Any, what: str) -> dict[str, Any] | None:
    """A free-form JSON object (or null) that MongoDB can store as it is: keys without a
    leading `$` or a NUL, integers within 64 bits."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    _check_storable(value, what)
    return value


def _check_storable(value: Any, what: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "\x00" in key:
                raise InvalidInput(f"{what} has an invalid key {key!r}")
            _check_storable(item, what)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, what)
    elif isinstance(value, int) and value not in INT64:
        raise InvalidInput(f"{what} has an integer too large to store: {value}")


def check_page(limit: int | None, offset: int) -> None:
    """`limit` in 0..1000 (None: no limit, for the REST lists), `offset` not negative."""
    if limit is not None and not 0 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 0 and {MAX_PAGE}")
    if offset < 0:
        raise InvalidInput("offset must not be negative")


def check_sha256(value: str | None) -> str | None:
    """A sha256 a client expects (64 hexadecimal digits, either case), lower-cased; or None."""
    if value is None:
        return None
    if len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise InvalidInput("sha256 must be 64 hexadecimal digits")
    return value.lower()


MEDIA_TYPE = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+( *;[ -~]*)?", re.ASCII)


def clean_media_type(value: str | None) -> str | None:
    """A media type a client named for its file, if it is one (else None: not stored)."""
    return value if value and len(value) <= 255 and MEDIA_TYPE.fullmatch(value) else None


def clean_uploaded_name(name: str | None) -> str | None:
    """The file name a client sent, without directories or control characters; None if empty."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c) != "Cc").strip()
    return base[:MAX_NAME_LENGTH] or None
