"""Ways to hide a pickle's imports from the scanner, each tried several ways.

Every payload is checked twice: the scanner must call it DANGEROUS or at least SUSPICIOUS
(never SAFE or NOT_PICKLE), and a loader-level check in the test (the reader Python code
uses, with `find_class` recording instead of importing) confirms that the payload really
would import the dangerous name.
"""

import bz2
import contextlib
import gzip
import io
import lzma
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy
import pytest
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from pickle_programs import imports_seen
from pickles import global_call, hidden_member_archive, stack_global_call, zipped

EVIL = "posix.system"
EXPLOIT = stack_global_call("posix", "system", "id")
FLAGGED = (Verdict.DANGEROUS, Verdict.SUSPICIOUS)


def scan(data: bytes, piece: int = 4096) -> Safety:
    scanner = FileScanner()
    for i in range(0, len(data), piece):
        scanner.feed(data[i : i + piece])
    return scanner.result()


def assert_flagged(data: bytes, loaded: list[str], dangerous: bool = False) -> Safety:
    assert EVIL in loaded, loaded  # the loader would import it
    for piece in (1 << 16, 777):
        result = scan(data, piece)
        assert result.verdict in ((Verdict.DANGEROUS,) if dangerous else FLAGGED), result
        assert result.notes or result.dangerous_globals, result
    return result


# the memo and the stack


def fillers(count: int, start: int) -> bytes:
    """Distinct strings, each memoised and popped: they fill the memo model."""
    texts = (f"filler_{i:06d}".encode() for i in range(start, start + count))
    return b"".join(b"\x8c" + bytes([len(text)]) + text + b"\x94" + b"0" for text in texts)


def memo_overflow(sparse: int, before: int = 0, after: int = 0) -> bytes:
    """Memo writes out of order, then names MEMOIZEd at keys only exact counting finds,
    decoys at the keys a count gone wrong would give, strings memoised before and after
    the names, and a STACK_GLOBAL of the names fetched back by key."""
    out = bytearray(b"\x80\x04") + fillers(before, 0)
    out += b"N"
    for i in range(sparse):
        out += b"r" + struct.pack("<I", 5_000_000 + i)
    out += b"0"
    base = before + sparse
    out += b"\x8c\x05posix\x94\x8c\x06system\x94" + b"00"
    decoys = ((b"builtins", before), (b"set", before + 1)) if sparse else ()
    for decoy, key in decoys:
        out += b"\x8c" + bytes([len(decoy)]) + decoy + b"r" + struct.pack("<I", key) + b"0"
    out += fillers(after, before)
    out += b"j" + struct.pack("<I", base) + b"j" + struct.pack("<I", base + 1) + b"\x93)R."
    return bytes(out)


@pytest.mark.parametrize(
    ("sparse", "before", "after", "exact"),
    [
        (100, 0, 0, True),
        (0, 6000, 0, True),  # the names are the most recent: they are kept
        (300, 0, 0, False),
        (5000, 0, 0, False),
        (0, 0, 6000, False),  # the names were memoised long before they are fetched
        (50, 3000, 3000, False),
    ],
)
def test_memo_overflows_are_followed_or_flagged(sparse, before, after, exact):
    data = memo_overflow(sparse, before, after)
    result = assert_flagged(data, imports_seen(data), dangerous=exact)
    if exact:
        assert result.dangerous_globals == (EVIL,)
    else:
        assert any("not followed" in note for note in result.notes), result


@pytest.mark.parametrize(
    "data",
    [
        b"(0" + global_call("posix", "system", "id").removeprefix(b""),  # POP takes the MARK
        b"N(N10cposix\nsystem\n(S'id'\ntR.",  # POP_MARK, then POP of the None
        b"\x80\x02N(0" + b"cposix\nsystem\nq\x00" + b"0h\x00(S'id'\ntR.",
    ],
    ids=["pop-mark", "pop-mark-then-pop", "pop-mark-then-memo"],
)
def test_pops_of_a_mark_are_followed(data):
    assert_flagged(data, imports_seen(data), dangerous=True)


def test_a_memo_key_too_long_to_read_is_not_guessed():
    key = b" " * 40_000 + b"1\n"  # Python reads it as 1
    data = b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94" + b"00" + b"h\x00g" + key + b"\x93)R."
    result = assert_flagged(data, imports_seen(data))
    assert result.verdict == Verdict.SUSPICIOUS


# compressed streams


def gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(part) for part in parts)


@pytest.mark.parametrize(
    "data",
    [
        gzip_members(b"", EXPLOIT),
        gzip_members(EXPLOIT[:9], EXPLOIT[9:]),
        gzip_members(b"", b"", EXPLOIT[:3], b"", EXPLOIT[3:]),
        gzip.compress(EXPLOIT[:20]) + bytes(64) + gzip.compress(EXPLOIT[20:]),  # padding
        gzip_members(pickle.dumps([1, 2]), EXPLOIT),  # a second pickle, read by a second load
    ],
    ids=["empty-first", "split", "split-many", "zero-padding", "second-pickle"],
)
def test_every_gzip_member_is_read(data):
    assert_flagged(data, imports_seen(gzip.decompress(data)), dangerous=True)


@pytest.mark.parametrize(
    ("data", "unpack"),
    [
        (bz2.compress(b"") + bz2.compress(EXPLOIT[:7]) + bz2.compress(EXPLOIT[7:]), bz2),
        (lzma.compress(EXPLOIT[:5]) + lzma.compress(EXPLOIT[5:]), lzma),
        (lzma.compress(EXPLOIT, format=lzma.FORMAT_ALONE), lzma),
        (zlib.compress(EXPLOIT), zlib),
    ],
    ids=["bzip2-streams", "xz-streams", "lzma-alone", "zlib"],
)
def test_other_compressed_streams_are_read(data, unpack):
    assert_flagged(data, imports_seen(unpack.decompress(data)), dangerous=True)


def test_a_pickle_whose_first_opcode_reads_as_bzip2_magic_is_still_walked():
    """BINBYTES whose length bytes spell `Zh9\\0`: no bzip2 stream, a pickle all the same."""
    length = int.from_bytes(b"Zh9\x00", "little")
    data = b"BZh9\x00" + bytes(length) + b"0" + global_call("posix", "system", "id")
    assert_flagged(data, imports_seen(data), dangerous=True)


# NumPy files


def npy(descr: Any, payload: bytes, version: int = 1) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode("latin-1")
    size = struct.pack("<H" if version == 1 else "<I", len(header) + 1)
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + b"\n" + payload


def numpy_loads(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """numpy.load(allow_pickle=True) itself, with its `pickle.load` only recording."""
    from numpy.lib import _format_impl  # where numpy.load reads .npy files

    seen: list[str] = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            seen.append(f"{module}.{name}")
            return lambda *args: None

    fake = type("pickle", (), {"load": staticmethod(lambda fp, **kw: Recording(fp).load())})
    monkeypatch.setattr(_format_impl, "pickle", fake)
    # the stand-in result is no array: what was imported is what counts
    with contextlib.suppress(ValueError, TypeError):
        numpy.load(io.BytesIO(data), allow_pickle=True)
    return seen


@pytest.mark.parametrize(
    ("descr", "version"),
    [
        ("|O", 1),
        ("<O", 1),
        ("O8", 1),
        ("|O", 2),
        ("|O", 3),
        ([("weights", "<f8"), ("meta", "|O")], 1),
        ([("outer", [("inner", "|O")])], 1),
    ],
    ids=["O", "<O", "O8", "v2", "v3", "structured", "nested"],
)
def test_numpy_object_arrays_carry_a_pickle(descr, version, monkeypatch):
    data = npy(descr, EXPLOIT, version)
    assert_flagged(data, numpy_loads(data, monkeypatch), dangerous=True)


def test_an_npz_member_holding_objects_is_read(monkeypatch):
    member = npy("|O", EXPLOIT)
    data = zipped({"weights.npy": npy("<f8", bytes(8)), "meta.npy": member}, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        loaded = numpy_loads(archive.read("meta.npy"), monkeypatch)
    assert_flagged(data, loaded, dangerous=True)


def test_a_numpy_dtype_not_understood_is_suspicious(monkeypatch):
    data = npy("|O1x", EXPLOIT)  # not a dtype the scanner knows: read as a pickle, and noted
    result = scan(data)
    assert result.verdict == Verdict.DANGEROUS
    assert any("NumPy dtype" in note for note in result.notes)


# zip archives read by their central directory


def local_header(name: bytes, method: int, csize: int, usize: int, crc: int) -> bytes:
    return struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, csize, usize, len(name), 0
    ) + name  # fmt: skip


def central_entry(name: bytes, method: int, csize: int, usize: int, crc: int, offset: int) -> bytes:
    return struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0,
        crc, csize, usize, len(name), 0, 0, 0, 0, 0, offset,
    ) + name  # fmt: skip


def end_record(entries: int, cd_size: int, cd_offset: int, comment: bytes = b"") -> bytes:
    return struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, cd_size, cd_offset, len(comment)
    ) + comment  # fmt: skip


def archive(
    data: bytes,
    local_method: int,
    central_method: int,
    csize_delta: int = 0,
    offset_shift: int = 0,
) -> bytes:
    """One member `data.pkl` whose local header and directory entry may disagree."""
    name = b"data.pkl"
    stored = zlib.compress(data)[2:-4] if central_method == zipfile.ZIP_DEFLATED else data
    crc = zlib.crc32(data)
    body = local_header(name, local_method, len(stored), len(data), crc) + stored
    directory = central_entry(
        name, central_method, len(stored) + csize_delta, len(data), crc, offset_shift
    )
    return body + directory + end_record(1, len(directory), len(body) + offset_shift)


def zip_loads(data: bytes) -> list[str]:
    """What zipfile gives for each name in the directory, loaded with a recording loader."""
    seen: list[str] = []
    with zipfile.ZipFile(io.BytesIO(data)) as reader:
        for name in reader.namelist():
            try:
                with reader.open(name) as member:
                    seen += imports_seen(member.read())
            except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError):
                pass
    return seen


@pytest.mark.parametrize(
    ("local_method", "central_method"),
    [(zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)],
    ids=["local-stored-directory-deflated"],
)
def test_the_directorys_method_is_the_one_read(local_method, central_method):
    data = archive(EXPLOIT, local_method, central_method)
    result = assert_flagged(data, zip_loads(data))
    assert any("disagree on its method" in note for note in result.notes), result


def test_a_member_read_as_stored_where_its_header_says_deflated():
    plain = global_call("posix", "system", "id")
    data = archive(plain, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED)
    assert_flagged(data, zip_loads(data))


def test_offsets_shifted_by_the_end_record_are_noticed():
    """The end record places the directory 16 bytes early; zipfile adds the difference to
    every offset, and finds a member the walk saw only as the tail of another one's data."""
    name = b"data.pkl"
    cover = local_header(b"cover", 0, 16, 16, zlib.crc32(b"\x00" * 16)) + b"\x00" * 16
    hidden = local_header(name, 0, len(EXPLOIT), len(EXPLOIT), zlib.crc32(EXPLOIT)) + EXPLOIT
    cover = local_header(b"cover", 0, 16 + len(hidden), 16 + len(hidden), 0) + bytes(16)
    body = cover + hidden
    shift = len(cover)
    directory = central_entry(name, 0, len(EXPLOIT), len(EXPLOIT), zlib.crc32(EXPLOIT), 0)
    data = body + directory + end_record(1, len(directory), len(body) - shift)
    assert_flagged(data, zip_loads(data))


def test_an_archive_after_the_archive_is_noticed():
    benign = zipped({"data.pkl": pickle.dumps([1])}, zipfile.ZIP_STORED)
    evil = zipped({"data.pkl": EXPLOIT}, zipfile.ZIP_DEFLATED)
    data = benign + evil  # zipfile goes by the last end record: the second archive's
    result = assert_flagged(data, zip_loads(data))
    assert any("follow the archive's end record" in note for note in result.notes)


@pytest.mark.parametrize("padding", [0, 10])
def test_an_end_record_hidden_in_the_comment_is_noticed(padding):
    """The benign archive's comment holds an evil one, whose end record zipfile finds."""
    evil = zipped({"data.pkl": EXPLOIT}, zipfile.ZIP_STORED)
    benign = zipped({"data.pkl": pickle.dumps([1])}, zipfile.ZIP_STORED)
    data = benign[:-2] + struct.pack("<H", len(evil) + padding) + evil + bytes(padding)
    result = assert_flagged(data, zip_loads(data))
    assert any("comment holds another end record" in note for note in result.notes)


def test_a_hidden_member_is_flagged():
    data = hidden_member_archive(EXPLOIT)
    result = assert_flagged(data, zip_loads(data))
    assert any("where no member was scanned" in note for note in result.notes)


def test_a_directory_entry_longer_than_its_member_is_flagged():
    """The directory says the member runs on past where its header ends it."""
    data = archive(EXPLOIT, zipfile.ZIP_STORED, zipfile.ZIP_STORED, csize_delta=30)
    result = scan(data)
    assert result.verdict == Verdict.DANGEROUS  # what the walk saw is reported still
    assert any("disagree on its compressed size" in note for note in result.notes), result


# archives in archives


def nest(data: bytes, wrappers: list[Callable[[bytes], bytes]]) -> bytes:
    for wrap in wrappers:
        data = wrap(data)
    return data


def in_zip(data: bytes) -> bytes:
    return zipped({"inner": data}, zipfile.ZIP_DEFLATED)


def unzip(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as reader:
        return reader.read(reader.namelist()[0])


@pytest.mark.parametrize(
    ("wrappers", "unwrappers", "dangerous"),
    [
        ([in_zip, gzip.compress], [gzip.decompress, unzip], True),
        ([gzip.compress, in_zip], [unzip, gzip.decompress], True),
        ([in_zip, in_zip, in_zip, in_zip], [unzip] * 4, False),  # deeper than followed
        ([bz2.compress, in_zip, lzma.compress], [lzma.decompress, unzip, bz2.decompress], True),
    ],
    ids=["zip-in-gzip", "gzip-in-zip", "four-zips", "bzip2-in-zip-in-xz"],
)
def test_nested_archives(wrappers, unwrappers, dangerous):
    data = nest(EXPLOIT, wrappers)
    inner = nest(data, unwrappers)
    result = assert_flagged(data, imports_seen(inner), dangerous=dangerous)
    if not dangerous:
        assert any("nested this deep" in note for note in result.notes)


# one unpickler loading pickle after pickle keeps its memo


def reused_unpickler_loads(data: bytes) -> list[str]:
    """Imports of Unpickler.load called again and again on one unpickler (its memo lives on)."""
    seen: list[str] = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            seen.append(f"{module}.{name}")
            return lambda *args: None

    stream = io.BytesIO(data)
    unpickler = Recording(stream)
    while stream.tell() < len(data):
        unpickler.load()
    return seen


def memoised(*names: bytes) -> bytes:
    return b"".join(b"\x8c" + bytes([len(n)]) + n + b"\x94" for n in names) + b"0" * len(names)


@pytest.mark.parametrize(
    ("first", "second", "loader"),
    [
        ((b"posix", b"system"), (b"builtins", b"set"), reused_unpickler_loads),
        ((b"builtins", b"set"), (b"posix", b"system"), imports_seen),
    ],
    ids=["reused-unpickler-imports-it", "fresh-unpickler-imports-it"],
)
def test_memo_keys_of_an_earlier_pickle_are_not_trusted(first, second, loader):
    """The second pickle MEMOIZEs two names and fetches keys 0 and 1: a fresh unpickler
    finds its own names there, one that loaded the first pickle finds the first's."""
    data = (
        b"\x80\x04" + memoised(*first) + b"N."
        + b"\x80\x04" + memoised(*second) + b"h\x00h\x01\x93)R."
    )  # fmt: skip
    result = assert_flagged(data, loader(data))
    assert "<not followed>" in result.globals
