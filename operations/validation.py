"""Checks on client-supplied names, maps, pages and whole documents; failures raise InvalidInput."""

import contextlib
import math
import re
import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import bson
from flrepo.documents.errors import InvalidInput, TooLarge

MAX_NAME_LENGTH = 256
MAX_PAGE = 1000
MAX_DEPTH = 100  # nesting of objects and arrays in free-form JSON
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's limit on one document
INT64 = (-(2**63), 2**63 - 1)


class UnsafeName(InvalidInput):
    """A name a new record may not have (look-alike or invisible characters), which a record
    written before these rules may still hold: lookups retry it as stored (`exact_names`)."""


# Lookups retry with the name exactly as given when the normalised one finds nothing, so that
# names stored before normalisation stay readable (operations.access.requires sets this).
_exact: ContextVar[bool] = ContextVar("exact_names", default=False)


@contextlib.contextmanager
def exact_names() -> Iterator[None]:
    """Within the block, check_name takes stored names as they are: no NFC, no UnsafeName."""
    reset = _exact.set(True)
    try:
        yield
    finally:
        _exact.reset(reset)


def check_name(value: Any, what: str) -> str:
    """A key part, in Unicode NFC: 1 to 256 characters, no `/`, not `.` or `..`, no leading
    `$`; no control, format (zero-width, bidi) or unpaired surrogate characters; no leading or
    trailing whitespace, no space but U+0020, and no compatibility characters (fullwidth
    letters, ligatures: their NFKC form differs), so that look-alikes cannot be separate keys."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidInput(f"{what} must not contain control characters")
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise InvalidInput(f"{what} must not contain unpaired surrogates")
    exact = _exact.get()
    name = value if exact else unicodedata.normalize("NFC", value)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    if "/" in name:
        raise InvalidInput(f"{what} must not contain '/'")
    if name in (".", ".."):
        raise InvalidInput(f"{what} must not be '.' or '..'")
    if name.startswith("$"):
        raise InvalidInput(f"{what} must not start with '$'")
    if not exact:
        _check_look_alikes(name, what)
    return name


def _check_look_alikes(name: str, what: str) -> None:
    """UnsafeName for what would make a name look like another or hide part of it."""
    if any(unicodedata.category(ch) == "Cf" for ch in name):
        raise UnsafeName(f"{what} must not contain invisible or text-direction characters")
    if name != name.strip():
        raise UnsafeName(f"{what} must not start or end with whitespace")
    if any(ch.isspace() and ch != " " for ch in name):
        raise UnsafeName(f"{what} must not contain other whitespace than the plain space")
    if unicodedata.normalize("NFKC", name) != name:
        raise UnsafeName(
            f"{what} must not contain compatibility characters (fullwidth or styled letters, "
            f"ligatures); write {unicodedata.normalize('NFKC', name)!r}"
        )


def check_object(value: Any, what: str) -> dict[str, Any] | None:
    """A free-form JSON object (or null) that MongoDB can store as it is: keys without a
    leading `$` or a NUL, integers within 64 bits."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    check_storable(value, what)
    return value


def check_storable(value: Any, what: str) -> None:
    """Every value in `value` is one MongoDB stores and JSON can show again.

    Keys are strings without a leading `$` or NUL; integers fit in 64 bits; numbers are
    finite; strings hold no unpaired surrogates; nesting is at most MAX_DEPTH deep.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str) or key.startswith("$") or "\x00" in key:
                        raise InvalidInput(f"{what} has an invalid key {_show(key)}")
                    _check_text(key, what)
                items = item.values()
            else:
                items = item
            pending.extend((child, depth + 1) for child in items)
        elif isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not INT64[0] <= item <= INT64[1]:
            raise InvalidInput(f"{what} holds an integer outside the signed 64-bit range")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidInput(f"{what} holds NaN or Infinity, which JSON cannot represent")


def check_document_size(fields: dict[str, Any], what: str) -> None:
    """The stored document fits MongoDB's 16 MB limit (checked after check_storable)."""
    if len(bson.encode(fields)) > MAX_DOCUMENT_BYTES:
        raise TooLarge(f"{what} is larger than MongoDB's limit of 16 MB per document")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} holds a string with an unpaired surrogate") from None


def _show(key: Any) -> str:
    return repr(key) if isinstance(key, str) and len(key) < 50 else "(not shown)"


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
