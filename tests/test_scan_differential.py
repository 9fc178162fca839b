"""The scanner against the unpickler: the imports it reports are the ones `pickle` makes.

Pickles are generated (hypothesis) from trees of values, in every protocol, framed or not,
with memo keys in and out of order; each is loaded in the test with `find_class` recording
and returning a harmless stand-in, and scanned in pieces; the two lists of imports must be
the same.
"""

import random
import struct

import pytest
from flrepo.scanner.rules import classify
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pickle_programs import GLOBALS, WORDS, Call, Writer, imports_seen


def scan(data: bytes, piece: int | None = None) -> Safety:
    scanner = FileScanner()
    piece = piece or len(data) or 1
    for i in range(0, len(data), piece):
        scanner.feed(data[i : i + piece])
    return scanner.result()


def expected_verdict(seen: list[str]) -> Verdict:
    kinds = {classify(" ".join(name.rsplit(".", 1))) for name in seen}
    if "dangerous" in kinds:
        return Verdict.DANGEROUS
    return Verdict.SUSPICIOUS if "suspicious" in kinds else Verdict.SAFE


leaves = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from(WORDS), st.none(), st.booleans())
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.sampled_from(WORDS), children, max_size=3),
        st.builds(
            lambda name, args: Call(*name, tuple(args)),
            st.sampled_from(GLOBALS),
            st.lists(children, max_size=2),
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    protocol=st.integers(0, 5),
    tree=trees,
    rng=st.randoms(use_true_random=False),
    piece=st.sampled_from([None, 1, 5, 64]),
)
def test_the_scanner_reports_the_imports_the_unpickler_makes(protocol, tree, rng, piece):
    data = Writer(protocol, rng.randrange).pickle(tree)
    seen = imports_seen(data)
    result = scan(data, piece)
    assert set(result.globals) == set(seen), data
    assert result.notes == (), data
    assert result.verdict == expected_verdict(seen) if seen else Verdict.SAFE


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(st.sampled_from(GLOBALS), min_size=1, max_size=6),
    rng=st.randoms(use_true_random=False),
)
def test_several_pickles_in_a_row_are_all_followed(names, rng):
    data = b"".join(
        Writer(rng.randrange(6), rng.randrange).pickle(Call(*name, (1,))) for name in names
    )
    seen = imports_seen(data)
    assert set(scan(data, 3).globals) == set(seen) == {".".join(n) for n in names}


def memo_heavy(writes: int, sparse: int, seed: int) -> bytes:
    """A protocol 4 pickle making `writes` memo writes (`sparse` of them out of order and far
    above the rest), then importing names fetched back by key: some memoised early, some by
    MEMOIZE after the out-of-order keys, where only exact counting finds them."""
    rng = random.Random(seed)
    out = bytearray(b"\x80\x04")
    out += b"N" + b"\x94" * (writes - sparse)  # None memoised at keys 0..writes-sparse-1
    for i in range(sparse):  # keys far above: len(memo) grows, the keys it gives do not
        out += b"r" + struct.pack("<I", 10_000_000 + i)
    out += b"0"
    module, name = rng.choice([("os", "system"), ("collections", "OrderedDict")])
    out += b"\x8c" + bytes([len(module)]) + module.encode() + b"\x94"  # at key `writes`
    out += b"\x8c" + bytes([len(name)]) + name.encode() + b"\x94"  # at key `writes + 1`
    out += b"0" * 2
    # decoys at the keys a count that stopped early would take for the real ones
    for decoy, key in ((b"builtins", writes - sparse), (b"set", writes - sparse + 1)):
        out += b"\x8c" + bytes([len(decoy)]) + decoy + b"r" + struct.pack("<I", key) + b"0"
    out += b"j" + struct.pack("<I", writes) + b"j" + struct.pack("<I", writes + 1)
    out += b"\x93)R."
    return bytes(out)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_more_than_a_hundred_thousand_memo_writes_are_counted_exactly(seed):
    data = memo_heavy(writes=120_000, sparse=200, seed=seed)
    seen = imports_seen(data)
    result = scan(data, 1 << 16)
    assert set(result.globals) == set(seen)
    assert result.notes == ()
    assert result.verdict == expected_verdict(seen)
