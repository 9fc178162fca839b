"""A ranking row's position strings sort as (prefix, key, result id) and one ranking's range
holds its rows only (documents/rank_positions.py)."""

import datetime as dt
import math

from bson import ObjectId
from flrepo.documents.rank_positions import (
    VARIANTS,
    bounds,
    id_text,
    key_text,
    position,
    positions,
    prefix,
)
from hypothesis import given, settings
from hypothesis import strategies as st

KEYS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.0, 1.0]
)
OBJECT_IDS = st.binary(min_size=12, max_size=12).map(ObjectId)
PART = st.text(alphabet=st.sampled_from(["\x00", "\x01", "a", "b", "é", "\uffff", "😀"]))
# the parts of one position field's prefixes: metric, direction and 0 to 3 filter values
PREFIXES = st.lists(PART, min_size=3, max_size=3)


def utf8(text: str) -> bytes:
    """What the databases compare strings by."""
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(PREFIXES, KEYS, OBJECT_IDS), min_size=2, max_size=20))
def test_positions_sort_as_prefix_then_key_then_id(rows):
    by_position = sorted(rows, key=lambda r: utf8(position(prefix(r[0]), r[1], r[2])))
    # parts in code-point order, -0.0 and 0.0 one key, ids by their bytes (ObjectId order)
    expected = sorted((p, k + 0.0, r.binary) for p, k, r in rows)
    assert [(p, k + 0.0, r.binary) for p, k, r in by_position] == expected


@settings(max_examples=300, deadline=None)
@given(PREFIXES, PREFIXES, KEYS, OBJECT_IDS)
def test_a_ranking_range_holds_its_own_prefix_only(a, b, key, rid):
    low, high = bounds(prefix(a))
    assert (utf8(low) <= utf8(position(prefix(b), key, rid)) < utf8(high)) == (a == b)


@settings(max_examples=500, deadline=None)
@given(KEYS, KEYS)
def test_keys_are_fixed_width_and_ordered(x, y):
    assert len(key_text(x)) == len(key_text(y)) == 16
    assert (key_text(x) < key_text(y)) == (x < y)
    assert (key_text(x) == key_text(y)) == (x == y)


def test_infinities_and_zeros():
    assert key_text(-math.inf) < key_text(-1e308) < key_text(-0.0) == key_text(0.0)
    assert key_text(0.0) < key_text(5e-324) < key_text(math.inf)


@given(
    st.lists(
        st.one_of(
            OBJECT_IDS,
            st.text(),
            st.integers(-(2**63), 2**63 - 1),
            st.floats(allow_nan=False),
            st.none(),
            st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.replace(microsecond=0)),
        ),
        min_size=2,
        max_size=2,
    )
)
def test_ids_of_any_type_are_told_apart(ids):
    a, b = ids
    same = type(a) is type(b) and a == b
    assert (id_text(a) == id_text(b)) == same
    if isinstance(a, ObjectId):
        assert len(id_text(a)) == 24 and all(c in "0123456789abcdef" for c in id_text(a))


def test_a_row_has_a_position_for_each_set_of_filters_it_holds_strings_for():
    rid = ObjectId()
    doc = {"model_name": "m", "model_version": "1", "configuration_id": None}
    fields = positions("acc", "desc", -0.5, rid, doc)
    assert set(fields) == {"pos", "pos_n", "pos_v", "pos_nv"}
    assert set(VARIANTS.values()) >= set(fields) and len(VARIANTS) == 8
    low, high = bounds(prefix(["acc", "desc", "m", "1"]))
    assert low <= fields["pos_nv"] < high
    assert fields["pos_nv"].endswith(str(rid))
