"""A ranking row's place in each ranking it belongs to, as one string an index sorts.

A ranking is (metric, direction) and, optionally, equality filters on model name, version
and configuration. Each accepted set of filters (every combination of the three) is a
variant, held in its own field of the row (`VARIANTS`); the field's value is

    prefix(metric, direction, the filter values) + the key (16 hex) + the result id

so that one ranking is one range of one field (`bounds`), read in that field's order: a
range and a sort on the same single field. Written by hand because the embedded database
(SecantusDB) walks an index in order only for such a query, and sorts every match in
memory for a filtered query sorted on more than one field; on MongoDB the single-field
index serves the range in order just as a compound one would.

Strings compare by their UTF-8 bytes, which is code-point order, so Python's `<` on these
strings is the databases' order. Binary values would not do: BSON compares BinData by
length first.
"""

import itertools
import struct
from collections.abc import Sequence
from typing import Any

from bson import ObjectId, json_util

FILTERS = ("model_name", "model_version", "configuration_id")
_LETTERS = {"model_name": "n", "model_version": "v", "configuration_id": "c"}
# the field of each set of filters (in FILTERS order): pos, pos_n, pos_v, ..., pos_nvc
VARIANTS: dict[tuple[str, ...], str] = {
    combo: "pos" + ("_" + "".join(_LETTERS[f] for f in combo) if combo else "")
    for size in range(len(FILTERS) + 1)
    for combo in itertools.combinations(FILTERS, size)
}
_END = "\x00\x00"  # ends a part; inside a part NUL is written "\x00\x01"
_SIGN = 1 << 63


def prefix(parts: Sequence[str]) -> str:
    """The parts, each escaped and terminated: no two distinct sequences of parts give
    strings of which one starts with the other."""
    return "".join(part.replace("\x00", "\x00\x01") + _END for part in parts)


def key_text(key: float) -> str:
    """16 hex digits in the order of the doubles (-0.0 as 0.0; finite or infinite)."""
    bits = struct.unpack(">Q", struct.pack(">d", key + 0.0))[0]  # + 0.0: -0.0 becomes 0.0
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits & _SIGN else bits | _SIGN
    return f"{bits:016x}"


def id_text(rid: Any) -> str:
    """An ObjectId as its 24 hex digits (in ObjectId order); any other id as "~" and its
    canonical extended JSON. Results tied on the key therefore come in ObjectId order,
    then those with other ids, in the order of that text."""
    if isinstance(rid, ObjectId):
        return str(rid)
    if isinstance(rid, float) and rid == 0:
        rid = 0.0  # -0.0 is the same id to MongoDB (and to ==)
    return "~" + json_util.dumps(rid, json_options=json_util.CANONICAL_JSON_OPTIONS)


def position(start: str, key: float, rid: Any) -> str:
    """The place of (key, rid) in the ranking whose prefix is `start`."""
    return start + key_text(key) + id_text(rid)


def bounds(start: str) -> tuple[str, str]:
    """[low, high): exactly the strings beginning with the prefix `start` (which ends with
    the terminator "\\x00\\x00", so nothing between them is another prefix's)."""
    return start, start[:-1] + "\x01"


def positions(
    metric: str, direction: str, key: float, rid: Any, doc: dict[str, Any]
) -> dict[str, str]:
    """The row's field of each variant whose filter values `doc` holds as strings (a ranking
    filters by strings only, so a row without them is in none of that variant's rankings)."""
    out = {}
    for combo, field in VARIANTS.items():
        values = [doc.get(f) for f in combo]
        if all(isinstance(v, str) for v in values):
            out[field] = position(prefix([metric, direction, *values]), key, rid)
    return out
