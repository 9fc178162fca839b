"""The walk over zip archives (PyTorch `.pt`, `.keras`, ...), member by member as they pass.

Every member, stored or deflated, is scanned by a walker of its own, and the central
directory at the end is checked to list no member that the walk did not see. The walk is
ours because `zipfile` starts from the central directory at the end, so it needs the whole
file at hand before it reads a member.
"""

import struct
import zlib
from collections.abc import Callable, Generator
from typing import Any

from flrepo.scanner.limits import INFLATE_OUT
from flrepo.scanner.report import Walker, WalkReport

LOCAL, CENTRAL, DESCRIPTOR = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"
ENDS = {b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x05"}
STORED, DEFLATED = 0, 8
Walk = Generator[None, bytes, Any]


class ZipWalker:
    """Walks a zip archive's members as they pass, scanning each with a walker of its own."""

    def __init__(self, member_walker: Callable[[], Walker]) -> None:
        self.member_walker = member_walker
        self.found = WalkReport()
        self.pending = b""
        self.position = 0  # archive offset of `pending`'s first byte
        self.members: set[int] = set()  # offsets of the local headers walked
        self.ended = False
        self.lost = False  # a member's end could not be found
        self.done = False
        self.walk = self._walk()
        next(self.walk)

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        try:
            self.walk.send(bytes(chunk))
        except StopIteration:
            self.done = True

    def finish(self) -> WalkReport:
        if not self.ended:
            self.found.note("the archive ends before its directory; it was not fully scanned")
        return self.found

    # reading

    def _read(self, n: int) -> Walk:
        buf = self.pending
        while len(buf) < n:
            buf += yield
        self.pending = buf[n:]
        self.position += n
        return buf[:n]

    def _next(self) -> Walk:
        """Some bytes: what is pending, or the next chunk."""
        while not self.pending:
            self.pending = yield
        data, self.pending = self.pending, b""
        self.position += len(data)
        return data

    def _unread(self, data: bytes) -> None:
        self.pending = data + self.pending
        self.position -= len(data)

    def _forward(self, n: int, sink: Callable[[bytes], None]) -> Walk:
        while n:
            data = yield from self._next()
            if len(data) > n:
                self._unread(data[n:])
                data = data[:n]
            sink(data)
            n -= len(data)

    # the archive

    def _walk(self) -> Walk:
        while True:
            signature = yield from self._read(4)
            if signature == LOCAL:
                if not (yield from self._member()):
                    return
            elif signature == CENTRAL:
                yield from self._directory_entry()
            elif signature in ENDS:
                self.ended = True
                return
            else:
                self.found.note(f"unexpected bytes at offset {self.position - 4}")
                self.ended = True
                return

    def _member(self) -> Walk:
        """Scan one member; False if the walk cannot find where the next one starts."""
        start = self.position - 4
        self.members.add(start)
        header = yield from self._read(26)
        flags, method = struct.unpack_from("<HH", header, 2)
        csize, usize, name_len, extra_len = struct.unpack_from("<IIHH", header, 14)
        name = _name((yield from self._read(name_len)), flags)
        extra = yield from self._read(extra_len)
        zip64 = 0x0001 in _extras(extra)
        if zip64:
            sizes = _zip64_sizes(_extras(extra)[0x0001], usize, csize)
            usize, csize = sizes.get("usize", usize), sizes.get("csize", csize)
        descriptor = bool(flags & 0x08)
        scanner = self.member_walker()
        if flags & 0x01 or method not in (STORED, DEFLATED):
            why = "encrypted" if flags & 0x01 else f"compressed with method {method}"
            self.found.note(f"member {name!r} is {why} and was not scanned")
            if descriptor:
                return False
            yield from self._forward(csize, lambda _: None)
        elif method == STORED and not descriptor:
            yield from self._forward(csize, scanner.feed)
        elif method == STORED:
            if not (yield from self._stored_until_descriptor(scanner.feed)):
                self.found.note(f"member {name!r}: its end was not found")
                return False
        else:
            yield from self._inflate(csize if not descriptor else None, scanner)
            if self.lost:
                return False
        if descriptor and method != STORED:
            yield from self._skip_descriptor(zip64)
        self.found.merge(scanner.finish(), f"member {name!r}")
        return True

    def _inflate(self, csize: int | None, scanner: Walker) -> Walk:
        """Inflate a member into `scanner`: `csize` bytes, or up to the deflate stream's end."""
        inflater = zlib.decompressobj(-15)
        left = csize
        while left is None or left > 0:
            data = yield from self._next()
            if left is not None:
                if len(data) > left:
                    self._unread(data[left:])
                    data = data[:left]
                left -= len(data)
                if scanner.done:
                    continue  # the rest cannot change the result: skip it, do not inflate
            try:
                out = inflater.decompress(data, INFLATE_OUT)
                while True:
                    scanner.feed(out)
                    if not inflater.unconsumed_tail or inflater.eof:
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, INFLATE_OUT)
            except zlib.error:
                self.found.note("a member's deflated data is corrupt")
                self.lost = left is None
                if self.lost:
                    return
                continue
            if inflater.eof and left is None:
                self._unread(inflater.unused_data)
                return

    def _skip_descriptor(self, zip64: bool) -> Walk:
        head = yield from self._read(4)
        if head != DESCRIPTOR:
            self._unread(head)
        yield from self._read(20 if zip64 else 12)

    def _stored_until_descriptor(self, sink: Callable[[bytes], None]) -> Walk:
        """Pass a stored member of unknown size: it ends where a data descriptor matches it."""
        crc, size, buf = 0, 0, b""
        while True:
            buf += yield from self._next()
            at = buf.find(DESCRIPTOR)
            while at >= 0 and at + 24 <= len(buf):
                c = zlib.crc32(buf[:at], crc)
                d_crc, d_csize = struct.unpack_from("<II", buf, at + 4)
                (d_csize64,) = struct.unpack_from("<Q", buf, at + 8)
                if c == d_crc and size + at in (d_csize, d_csize64):
                    sink(buf[:at])
                    tail = 16 if d_csize == size + at else 24
                    self._unread(buf[at + tail :])
                    return True
                at = buf.find(DESCRIPTOR, at + 1)
            keep = len(buf) - 23 if at < 0 else at
            if keep > 0:
                crc = zlib.crc32(buf[:keep], crc)
                size += keep
                sink(buf[:keep])
                buf = buf[keep:]

    def _directory_entry(self) -> Walk:
        """Check that a central directory entry names a member the walk scanned."""
        header = yield from self._read(42)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", header, 24)
        (offset,) = struct.unpack_from("<I", header, 38)
        csize, usize = struct.unpack_from("<II", header, 16)
        (flags,) = struct.unpack_from("<H", header, 4)
        name = _name((yield from self._read(name_len)), flags)
        extras = _extras((yield from self._read(extra_len)))
        yield from self._read(comment_len)
        if offset == 0xFFFFFFFF and 0x0001 in extras:
            offset = _zip64_sizes(extras[0x0001], usize, csize, offset).get("offset", offset)
        if offset not in self.members:
            self.found.note(f"the directory lists {name!r} where no member was scanned")


def _name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")


def _extras(raw: bytes) -> dict[int, bytes]:
    fields, i = {}, 0
    while i + 4 <= len(raw):
        tag, size = struct.unpack_from("<HH", raw, i)
        fields[tag] = raw[i + 4 : i + 4 + size]
        i += 4 + size
    return fields


def _zip64_sizes(raw: bytes, usize: int, csize: int, offset: int = 0) -> dict[str, int]:
    """The zip64 extra field holds, in order, whichever of these were 0xFFFFFFFF."""
    values, i = {}, 0
    for key, value in (("usize", usize), ("csize", csize), ("offset", offset)):
        if value == 0xFFFFFFFF and i + 8 <= len(raw):
            (values[key],) = struct.unpack_from("<Q", raw, i)
            i += 8
    return values
