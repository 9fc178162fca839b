"""Keyset pages: opaque cursors (base64 of the last item's sort key) and the queries that
start a page after one, so that a deep page costs what the first does.

A key (k1, ..., kn) comes after (v1, ..., vn) when k1 > v1, or k1 = v1 and (k2..kn) come
after (v2..vn). Rather than one `$or`, which planners serve poorly, each alternative is its
own query, every one an equality prefix and one range on an index in sort order; the
alternatives are read in order until the page is full.
"""

import base64
import binascii
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bson import ObjectId, json_util
from bson.errors import InvalidBSON
from flrepo.documents.errors import InvalidInput
from flrepo.operations.validation import MAX_PAGE
from pymongo.asynchronous.collection import AsyncCollection

T = TypeVar("T")
MAX_CURSOR_LENGTH = 1024
# Sorts after null (a document of the original service has no time) and before any time.
EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
KEY_TYPES = (dt.datetime, ObjectId, str, int, float, type(None))
FORGED = "the cursor is not one this server gave out for this list"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: each item with the cursor that starts the page after it."""

    edges: list[tuple[str, T]]
    has_next: bool


def encode(kind: str, key: Sequence[Any]) -> str:
    """The cursor of a sort key (`kind` names the list's order, so cursors do not cross)."""
    text = json_util.dumps([kind, *key], json_options=json_util.CANONICAL_JSON_OPTIONS)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, kind: str, size: int) -> list[Any]:
    """The sort key a cursor holds; InvalidInput unless it is one of `kind` with `size` parts.

    Only plain values come out (times, ids, strings, numbers, null), never an operator.
    """
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
        raise InvalidInput(FORGED)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value = json_util.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, InvalidBSON):
        raise InvalidInput(FORGED) from None
    if not isinstance(value, list) or len(value) != size + 1 or value[0] != kind:
        raise InvalidInput(FORGED)
    key = value[1:]
    if not all(isinstance(part, KEY_TYPES) for part in key):
        raise InvalidInput(FORGED)
    return key


def check_first(first: int) -> int:
    if not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be between 0 and {MAX_PAGE}")
    return first


def after(fields: Sequence[str], key: Sequence[Any]) -> list[dict[str, Any]]:
    """The queries, in sort order, for what comes after `key` (ascending on every field).

    A null first part (a document without a time) is followed by every time.
    """
    out = []
    for i in range(len(fields) - 1, -1, -1):
        prefix = dict(zip(fields[:i], key[:i], strict=True))
        value = key[i]
        bound = {"$gte": EARLIEST} if value is None else {"$gt": value}
        out.append({**prefix, fields[i]: bound})
    return out


async def keyset(
    collection: AsyncCollection,
    query: dict[str, Any],
    sort: list[tuple[str, Any]],
    first: int,
    start: list[dict[str, Any]] | None,
    hint: Any = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `first` documents matching `query` in `sort` order, after `start` (the queries
    of `after`; None: from the beginning), and whether more follow."""
    out: list[dict[str, Any]] = []
    for part in start if start is not None else [{}]:
        need = first + 1 - len(out)
        if need <= 0:
            break
        cursor = collection.find({**query, **part}).sort(sort).limit(need)
        if hint is not None:
            cursor = cursor.hint(hint)
        out += await cursor.to_list()
    return out[:first], len(out) > first
