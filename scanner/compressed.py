"""The walk over compressed streams: gzip, zlib, bzip2, xz and lzma (`.pkl.gz`, joblib's
compressed dumps), every member of them, as Python's readers go on to read them all."""

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from flrepo.scanner.budget import UNMETERED, Meter
from flrepo.scanner.limits import EXPANSION_FLOOR, INFLATE_OUT, MAX_EXPANSION
from flrepo.scanner.report import Walker, WalkReport

Decompressor = Any  # zlib's decompressobj, BZ2Decompressor or LZMADecompressor

# How each kind starts, and how a decompressor for one of its members is made.
FORMATS: dict[str, Callable[[], Decompressor]] = {
    "gzip": lambda: zlib.decompressobj(31),
    "zlib": lambda: zlib.decompressobj(15),
    "bzip2": bz2.BZ2Decompressor,
    "xz": lzma.LZMADecompressor,  # also the older `.lzma` format joblib writes
}
ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)


def compression(head: bytes) -> str | None:
    """The compression a file's first bytes announce, if any.

    Of these first bytes only bzip2's `B` is also a pickle opcode: the caller reads such
    a file both ways.
    """
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 2 and head[0] == 0x78 and int.from_bytes(head[:2], "big") % 31 == 0:
        return "zlib"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and len(head) >= 4:
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00" or head[:2] == b"\x5d\x00":
        return "xz"
    return None


class DecompressWalker:
    """A compressed stream: what each member decompresses to is scanned, a piece at a time.

    gzip, bzip2 and xz files may hold several members one after the other (gzip pads them
    with zeros); Python's readers return them all as one stream, so they are walked so too.
    """

    def __init__(self, kind: str, contents: Walker, meter: Meter = UNMETERED) -> None:
        self.kind = kind
        self.decompressor = FORMATS[kind]()
        self.inner = contents
        self.meter = meter
        self.found = WalkReport()
        self.done = False
        self.between = False  # one member has ended; the next has not begun
        self.read = self.written = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        self.read += len(chunk)
        try:
            self._decompress(bytes(chunk))
        except ERRORS:
            self.done = True  # no reader gets further than this either

    def finish(self) -> WalkReport:
        self.found.merge(self.inner.finish(), "compressed contents")
        return self.found

    def _decompress(self, data: bytes) -> None:
        zlib_like = self.kind in ("gzip", "zlib")
        while data and not self.done:
            if self.between:
                if self.kind == "gzip":
                    data = data.lstrip(b"\0")  # gzip's reader passes over zero padding
                    if not data:
                        return
                self.decompressor = FORMATS[self.kind]()
                self.between = False
            d = self.decompressor
            out = d.decompress(data, INFLATE_OUT)
            while True:
                self._write(out)
                if self.done or d.eof:
                    break
                if zlib_like:
                    if not d.unconsumed_tail:
                        break
                    out = d.decompress(d.unconsumed_tail, INFLATE_OUT)
                else:
                    if d.needs_input:
                        break
                    out = d.decompress(b"", INFLATE_OUT)
            if not d.eof:
                return
            data = d.unused_data
            if self.kind == "zlib":  # one stream; what follows it no reader reads
                self.done = True
                return
            self.between = True

    def _write(self, out: bytes) -> None:
        if not out:
            return
        self.written += len(out)
        if self.written > MAX_EXPANSION * self.read + EXPANSION_FLOOR:
            self.found.note("expands more than a hundredfold; the rest was not scanned")
            self.done = True
            return
        self.meter.check()
        self.inner.feed(out)
        if self.inner.done:
            self.done = True


class Both:
    """Bytes that two walks may each make sense of: both are fed, both are reported."""

    def __init__(self, *walkers: Walker) -> None:
        self.walkers = walkers

    @property
    def done(self) -> bool:
        return all(walker.done for walker in self.walkers)

    def feed(self, chunk: bytes | memoryview) -> None:
        for walker in self.walkers:
            if not walker.done:
                walker.feed(chunk)

    def finish(self) -> WalkReport:
        found = WalkReport()
        for walker in self.walkers:
            found.merge(walker.finish())
        return found
