"""The pickle scanner on its own: what it flags, what it leaves alone, and that it streams."""

import collections
import gzip
import io
import os
import pickle
import random
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable

import joblib
import numpy
import pytest
from flrepo.scanner.rules import classify
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from pickles import (
    MALICIOUS,
    framed,
    global_call,
    hidden_member_archive,
    short_str,
    sklearn_model_pickle,
    stack_global_call,
    torch_checkpoint,
    torch_checkpoint_pickle,
    zipped,
)


def scan(data: bytes | Iterable[bytes], piece: int | None = None) -> Safety:
    scanner = FileScanner()
    if isinstance(data, bytes):
        whole, piece = data, piece or len(data) or 1
        data = (whole[i : i + piece] for i in range(0, len(whole), piece))
    for chunk in data:
        scanner.feed(chunk)
    return scanner.result()


@pytest.mark.parametrize(("what", "data", "name"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
def test_malicious_pickles_are_dangerous(what, data, name):
    for piece in (None, 1, 3):  # whole, and split at every possible place
        result = scan(data, piece)
        assert result.verdict == Verdict.DANGEROUS, (what, result)
        assert result.dangerous_globals, result
        if name:
            assert name in result.dangerous_globals, result
        assert set(result.dangerous_globals) <= set(result.globals)


@pytest.mark.parametrize("protocol", range(6))
def test_every_protocol_python_writes_is_walked(protocol):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("id",))

    result = scan(pickle.dumps(Exploit(), protocol=protocol))
    assert result.verdict == Verdict.DANGEROUS
    assert result.dangerous_globals in (("posix.system",), ("nt.system",))


@pytest.mark.parametrize("protocol", range(6))
def test_numpy_arrays_and_plain_containers_are_safe(protocol):
    value = {
        "weights": [numpy.arange(12, dtype=numpy.float32).reshape(3, 4), numpy.zeros(2)],
        "dtype": numpy.dtype("int8"),
        "scalar": numpy.float64(1.5),
        "ordered": collections.OrderedDict(a=1, b=[2, 3]),
        "containers": ({1, 2}, frozenset({3}), (4, 5), b"raw", bytearray(b"x"), 1j, range(3)),
        "text": "x" * 100_000,
        "big": 2**200,
    }
    result = scan(pickle.dumps(value, protocol=protocol), piece=1000)
    assert result.verdict == Verdict.SAFE, result
    assert result.dangerous_globals == ()
    assert any(name.startswith("numpy") for name in result.globals)
    assert "collections.OrderedDict" in result.globals


def test_a_pickle_importing_nothing_is_safe():
    result = scan(pickle.dumps([1, "two", {"three": 3.0}, None, True]))
    assert result.verdict == Verdict.SAFE
    assert result.globals == ()


def test_a_pytorch_checkpoint_is_safe():
    result = scan(torch_checkpoint(), piece=10)
    assert result.verdict == Verdict.SAFE, result
    assert set(result.globals) == {
        "collections.OrderedDict",
        "torch.FloatStorage",
        "torch._utils._rebuild_tensor_v2",
    }


def test_a_scikit_learn_estimator_is_safe():
    result = scan(sklearn_model_pickle())
    assert result.verdict == Verdict.SAFE, result
    assert "sklearn.linear_model._base.LinearRegression" in result.globals


@pytest.mark.parametrize(
    "pushes", [b"K\x01K\x02", b"NN", b"G" + bytes(8) + b"J" + bytes(4), b"M\x01\x00" * 2]
)
def test_runs_of_numbers_are_counted_exactly(pushes):
    """Names pushed, two numbers pushed and popped: the names are still the import's."""
    body = short_str("collections") + short_str("OrderedDict") + pushes + b"00" + b"\x93)R"
    for piece in (None, 1, 2):
        result = scan(framed(body), piece)
        assert result.verdict == Verdict.SAFE, result
        assert result.globals == ("collections.OrderedDict",)
    exploit = short_str("os") + short_str("system") + pushes + b"00" + b"\x93)R"
    assert scan(framed(exploit), 3).dangerous_globals == ("os.system",)


def test_an_unknown_class_is_suspicious():
    result = scan(global_call("fedlib.strategies", "FedAvgPlus", "x", 2))
    assert result.verdict == Verdict.SUSPICIOUS
    assert result.globals == ("fedlib.strategies.FedAvgPlus",)
    assert result.dangerous_globals == ()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world\n",
        b'{"weights": [1, 2, 3]}',
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\x89HDF\r\n\x1a\n" + bytes(100),
        random.Random(7).randbytes(200_000),
    ],
    ids=["empty", "text", "json", "png", "hdf5", "random"],
)
def test_other_files_are_not_pickles(data):
    assert scan(data, piece=4096).verdict == Verdict.NOT_PICKLE


def test_a_keras_archive_without_pickles_is_not_a_pickle():
    data = zipped(
        {"config.json": b'{"class_name": "Sequential"}', "model.weights.h5": b"\x89HDF" * 50},
        zipfile.ZIP_DEFLATED,
    )
    assert scan(data).verdict == Verdict.NOT_PICKLE


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("seekable", [True, False], ids=["sizes", "data-descriptors"])
def test_pickles_inside_zip_archives_are_scanned(compression, seekable):
    members = {
        "archive/version": b"3\n",
        "archive/data/0": random.Random(1).randbytes(50_000),
        "archive/data.pkl": stack_global_call("os", "system", "id", 2),
        "archive/byteorder": b"little",
    }
    data = zipped(members, compression, seekable)
    for piece in (None, 7, 4096):
        result = scan(data, piece)
        assert result.verdict == Verdict.DANGEROUS, result
        assert result.dangerous_globals == ("os.system",)
        assert result.notes == ()
    benign = zipped({**members, "archive/data.pkl": torch_checkpoint_pickle()}, compression)
    assert scan(benign, 999).verdict == Verdict.SAFE


def test_a_pytorch_checkpoint_with_a_malicious_data_pkl_is_dangerous():
    data = torch_checkpoint(global_call("subprocess", "Popen", "id", 2))
    result = scan(data, 100)
    assert result.verdict == Verdict.DANGEROUS
    assert result.dangerous_globals == ("subprocess.Popen",)


def test_an_archive_inside_an_archive_is_scanned():
    inner = zipped({"data.pkl": global_call("os", "system", "id")}, zipfile.ZIP_DEFLATED)
    outer = zipped({"inner.zip": inner, "readme.txt": b"hi"}, zipfile.ZIP_STORED)
    assert scan(outer, 50).dangerous_globals == ("os.system",)


def test_a_member_hidden_from_a_walk_of_local_headers_is_not_passed_as_safe():
    data = hidden_member_archive(global_call("os", "system", "id"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # readers do find the hidden member
        assert b"system" in archive.read("archive/data.pkl")
    result = scan(data)
    assert result.verdict == Verdict.SUSPICIOUS
    assert any("archive/data.pkl" in note for note in result.notes)


def test_a_truncated_malicious_pickle_is_still_dangerous():
    data = global_call("os", "system", "id")
    assert scan(data[:-3]).verdict == Verdict.DANGEROUS


def test_a_malformed_pickle_after_an_import_is_suspicious():
    data = b"\x80\x02cfedlib\nThing\n\xff\xff"  # 0xff is no opcode
    result = scan(data)
    assert result.verdict == Verdict.SUSPICIOUS
    assert result.notes


def test_compressed_pickles_are_scanned():
    exploit = global_call("os", "system", "id")
    assert scan(gzip.compress(exploit), 5).dangerous_globals == ("os.system",)
    assert scan(zlib.compress(exploit), 5).dangerous_globals == ("os.system",)
    assert scan(gzip.compress(pickle.dumps(numpy.ones(3)))).verdict == Verdict.SAFE
    assert scan(gzip.compress(b"just text")).verdict == Verdict.NOT_PICKLE
    assert scan(b"\x1f\x8b" + bytes(100)).verdict == Verdict.NOT_PICKLE  # corrupt


def test_a_compressed_bomb_is_not_followed_for_ever():
    bomb = zlib.compress(b"N0" * (10 << 20), 9)  # 20 MiB of opcodes in some 20 kB
    result = scan(bomb, 1024)
    assert result.verdict == Verdict.SUSPICIOUS
    assert "hundredfold" in result.notes[0]


def test_joblib_dumps_are_suspicious():
    """joblib writes array bytes into the pickle stream, where the walk cannot follow."""
    plain, compressed = io.BytesIO(), io.BytesIO()
    joblib.dump({"coef": numpy.arange(10.0), "n": 3}, plain)
    joblib.dump({"coef": numpy.arange(10.0)}, compressed, compress=3)
    result = scan(plain.getvalue())
    assert result.verdict == Verdict.SUSPICIOUS
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in result.globals
    assert result.dangerous_globals == ()
    assert "the rest was not scanned" in result.notes[0]
    result = scan(compressed.getvalue())
    assert result.verdict == Verdict.SUSPICIOUS
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in result.globals


def test_a_corrupt_archive_is_suspicious_not_safe():
    data = zipped({"data.pkl": pickle.dumps([1])}, zipfile.ZIP_STORED)
    assert scan(data).verdict == Verdict.SAFE
    assert scan(data[:-30]).verdict == Verdict.SUSPICIOUS


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("os system", "dangerous"),
        ("os.path join", "dangerous"),
        ("builtins getattr", "dangerous"),
        ("builtins __import__", "dangerous"),
        ("__builtin__ eval", "dangerous"),
        ("importlib import_module", "dangerous"),
        ("collections OrderedDict.__class__", "dangerous"),
        ("builtins set", "innocuous"),
        ("__builtin__ set", "innocuous"),
        ("numpy.core.multiarray _reconstruct", "innocuous"),
        ("torch._utils _rebuild_tensor_v2", "innocuous"),
        ("sklearn.ensemble._forest RandomForestClassifier", "innocuous"),
        ("sklearn.utils._testing assert_allclose", "suspicious"),
        ("collections OrderedDict.fromkeys", "suspicious"),
        ("mypackage Strategy", "suspicious"),
    ],
)
def test_classify(name, kind):
    assert classify(name) == kind


def big_pickle_then(tail: bytes, payload: int, piece: int = 1 << 20):
    """A protocol 4 pickle of `payload` bytes of BINBYTES8, then `tail`, piece by piece."""
    yield b"\x80\x04" + b"(\x8e" + struct.pack("<Q", payload)
    zeros = bytes(piece)
    for _ in range(payload // piece):
        yield zeros
    yield b"1" + tail


def test_scanning_a_large_pickle_holds_little_memory():
    payload = 64 << 20
    tail = stack_global_call("os", "system", "id", 4)[2:]  # drop PROTO: same pickle goes on
    chunks = big_pickle_then(tail, payload)
    first = next(chunks)
    tracemalloc.start()
    try:
        scanner = FileScanner()
        scanner.feed(first)
        for chunk in chunks:
            scanner.feed(chunk)
            del chunk
        result = scanner.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.dangerous_globals == ("os.system",)
    assert peak < 4 << 20, peak  # a few chunks' worth at most, not the 64 MiB


def test_scanning_a_large_deflated_member_holds_little_memory():
    tail = stack_global_call("os", "system", "id", 4)[2:]
    block = random.Random(3).randbytes(1 << 20)  # beyond deflate's window: it does not shrink
    head, *_, end = big_pickle_then(tail, 24 << 20)
    pickled = head + block * 24 + end
    data = zipped({"data.pkl": pickled}, zipfile.ZIP_DEFLATED, seekable=False)
    del pickled
    tracemalloc.start()
    try:
        result = scan(data, 64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.dangerous_globals == ("os.system",)
    assert peak < 8 << 20, peak  # the member is inflated a little at a time
