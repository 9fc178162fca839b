"""The scanner's bounds: CPU time per scan, expansion of zip members, state kept per scan."""

import gc
import gzip
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Iterable

import pytest
from flrepo.scanner.budget import Budget
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from pickles import stack_global_call, zipped

from flrepo.settings import Settings

MIB = 1 << 20


def pieces(data: bytes, size: int = 1 << 16) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def timed_scan(chunks: Iterable[bytes], scanner: FileScanner | None = None) -> tuple[float, Safety]:
    scanner = scanner or FileScanner()
    start = time.thread_time()
    for chunk in chunks:
        scanner.feed(chunk)
    result = scanner.result()
    return time.thread_time() - start, result


def n0_member(size: int) -> bytes:
    """A zip whose one deflated member, of about `size` bytes, is `N0` (push, pop) over and
    over: some two thousand opcodes per compressed byte."""
    sample = zipped({"data.pkl": b"N0" * 1_000_000}, zipfile.ZIP_DEFLATED)
    count = 1_000_000 * size // len(sample)
    return zipped({"data.pkl": b"\x80\x04" + b"N0" * count}, zipfile.ZIP_DEFLATED)


@pytest.mark.parametrize("size", [30_000, 204_000])
def test_a_zip_member_of_cheap_opcodes_costs_little(size):
    data = n0_member(size)
    seconds, result = timed_scan(pieces(data))
    assert result.verdict == Verdict.SUSPICIOUS
    assert any("hundredfold" in note for note in result.notes), result
    assert seconds < 1.5, seconds  # it used to take 16 s (30 kB) and 102 s (204 kB)


def slow_opcodes(size: int) -> bytes:
    """Opcodes the walk takes one at a time (DUP and POPs), and an import after them."""
    body = b"N" + b"20" * (size // 2)
    return b"\x80\x04" + body + b"0" + stack_global_call("os", "system", "id")[2:]


def test_the_cpu_budget_stops_a_scan_and_says_so():
    data = slow_opcodes(MIB)
    seconds, result = timed_scan(pieces(data), FileScanner(budget=Budget(0.05, 0.0)))
    assert result.verdict == Verdict.SUSPICIOUS
    assert any("CPU time" in note for note in result.notes), result
    assert seconds < 0.5, seconds
    _, unbounded = timed_scan(pieces(data), FileScanner(budget=Budget(60.0, 0.0)))
    assert unbounded.verdict == Verdict.DANGEROUS  # the same file, given time, is followed


def test_the_budget_counts_every_feed_of_a_resumed_scan():
    """A resumable upload feeds its scan request by request: the time adds up."""
    data = slow_opcodes(MIB)
    scanner = FileScanner(budget=Budget(0.05, 0.0))
    for chunk in pieces(data, 4096):  # each feed alone is far below the budget
        scanner.feed(chunk)
        if scanner.done:
            break
    assert scanner.done
    assert any("CPU time" in note for note in scanner.result().notes)


def test_the_budget_grows_with_the_file():
    budget = Budget(2.0, 0.25)
    assert budget.allowed(0) == 2.0
    assert budget.allowed(8 * MIB) == 4.0


def test_the_budget_settings(monkeypatch):
    monkeypatch.setenv("FLREPO_SCAN_BUDGET_S", "5")
    monkeypatch.setenv("FLREPO_SCAN_BUDGET_S_PER_MIB", "0.5")
    assert Settings().scanning.budget == Budget(5.0, 0.5)
    monkeypatch.setenv("FLREPO_SCAN_BUDGET_S", "0")
    with pytest.raises(ValueError, match="scan_budget_s"):
        Settings()


# the state one unfinished scan keeps (one per resumable upload in progress)


def memo_of_long_names(count: int) -> bytes:
    names = (b"\x8c\xff" + ((b"n%05d" % i) * 43)[:255] + b"\x94" + b"0" for i in range(count))
    return b"\x80\x04" + b"".join(names)


def stack_of_long_strings(count: int) -> bytes:
    strings = (b"\x8c\xff" + bytes([97 + i % 26]) * 255 for i in range(count))
    return b"\x80\x04(" + b"".join(strings)


def sparse_memo_keys(count: int) -> bytes:
    return b"\x80\x04N" + b"".join(b"r" + struct.pack("<I", 10**7 + i) for i in range(count))


def many_imports(count: int) -> bytes:
    imports = (b"c" + (b"m%d" % i) * 20 + b"\n" + b"x" * 200 + b"\n0" for i in range(count))
    return b"\x80\x02" + b"".join(imports)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


HOSTILE = {
    "memo of long names": memo_of_long_names(2_000),
    "stack of long strings": stack_of_long_strings(2_000),
    "marks": b"\x80\x04" + b"(N" * 20_000,
    "sparse memo keys": sparse_memo_keys(5_000),
    "imports": many_imports(1_000),
    "a long text argument": b"S'" + b"a" * 15_000,
    "half a zip member": half(zipped({"a.pkl": memo_of_long_names(4_000)}, 8)),
    "half a gzip stream": half(gzip.compress(stack_of_long_strings(4_000))),
}


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_an_unfinished_scan_keeps_little_state(data):
    chunks = pieces(data)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        scanner = FileScanner()
        for chunk in chunks:
            scanner.feed(chunk)
        del chunk
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert not scanner.done or scanner.result().verdict != Verdict.SAFE
    assert kept < 256 * 1024, kept  # it used to reach some 41 MiB
