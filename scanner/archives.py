"""The walk over zip archives (PyTorch `.pt`, `.keras`, `.npz`, ...), member by member.

Every member, stored or deflated, is scanned by a walker of its own as it passes. Readers
(`zipfile`, PyTorch's) go by the central directory at the end instead, so the walk keeps
a little of each member's local header (where it starts, its name, method and compressed
size) and checks every directory entry against it: a member the directory names that the
walk did not scan the same way, a directory that is not where the end record says, or
bytes after the end record make the file SUSPICIOUS. The walk is ours because `zipfile`
needs the whole file at hand before it reads a member.
"""

import bisect
import struct
import zlib
from array import array
from collections.abc import Callable, Generator
from typing import Any

from flrepo.scanner.budget import UNMETERED, Meter
from flrepo.scanner.limits import EXPANSION_FLOOR, INFLATE_OUT, MAX_EXPANSION, MAX_MEMBERS
from flrepo.scanner.report import Walker, WalkReport

LOCAL, CENTRAL, DESCRIPTOR = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"
END, END64, LOCATOR64, SIGNATURE = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x05"
STORED, DEFLATED = 0, 8
SCANNED, ENCRYPTED = 1 << 48, 1 << 49
Walk = Generator[None, bytes, Any]


class ZipWalker:
    """Walks a zip archive's members as they pass, then checks its central directory."""

    def __init__(self, member_walker: Callable[[], Walker], meter: Meter = UNMETERED) -> None:
        self.member_walker = member_walker
        self.meter = meter
        self.found = WalkReport()
        self.pending = b""
        self.position = 0  # archive offset of `pending`'s first byte
        # per member walked, in order: where its local header starts; its compressed size,
        # and its name's CRC-32 | method << 32 | SCANNED | ENCRYPTED
        self.offsets = array("Q")
        self.members = array("Q")
        self.current: tuple[Walker, str] | None = None  # the member being scanned
        self.directory: tuple[int, int, int] | None = None  # its offset, bytes, entries
        self.zip64_directory: tuple[int, int, int] | None = None  # as the zip64 end says
        self.comment = b""  # the end record's, read so far
        self.comment_len = 0
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
        if self.current is not None:  # stopped inside a member: what it found so far counts
            scanner, name = self.current
            self.found.merge(scanner.finish(), f"member {name!r}")
            self.current = None
        if not self.ended:
            self.found.note("the archive ends before its directory; it was not fully scanned")
        elif END in self.comment:
            self.found.note("the archive's comment holds another end record")
        elif len(self.comment) < self.comment_len:
            self.found.note("the archive ends inside its comment")
        self.pending = b""
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
            del data

    # the archive

    def _walk(self) -> Walk:
        while True:
            signature = yield from self._read(4)
            if signature == LOCAL:
                if not (yield from self._member()):
                    return
            elif signature == CENTRAL:
                yield from self._directory_entry()
            elif signature == SIGNATURE:
                (size,) = struct.unpack("<H", (yield from self._read(2)))
                yield from self._forward(size, _ignore)
            elif signature == END64:
                yield from self._end64()
            elif signature == LOCATOR64:
                yield from self._read(16)
            elif signature == END:
                yield from self._end()
                return
            else:
                self.found.note(f"unexpected bytes at offset {self.position - 4}")
                return

    def _member(self) -> Walk:
        """Scan one member; False if the walk cannot find where the next one starts."""
        start = self.position - 4
        header = yield from self._read(26)
        flags, method = struct.unpack_from("<HH", header, 2)
        csize, usize, name_len, extra_len = struct.unpack_from("<IIHH", header, 14)
        name = _name((yield from self._read(name_len)), flags)
        extras = _extras((yield from self._read(extra_len)))
        zip64 = 0x0001 in extras
        if zip64:
            sizes = _zip64_sizes(extras[0x0001], usize, csize)
            usize, csize = sizes.get("usize", usize), sizes.get("csize", csize)
        descriptor = bool(flags & 0x08)
        scanner = self.member_walker()
        self.current = (scanner, name[:100])
        data_start = self.position
        scanned = True
        if flags & 0x01 or method not in (STORED, DEFLATED):
            why = "encrypted" if flags & 0x01 else f"compressed with method {method}"
            self.found.note(f"member {name[:100]!r} is {why} and was not scanned")
            scanned = False
            if descriptor:
                return False
            yield from self._forward(csize, _ignore)
        elif method == STORED and not descriptor:
            yield from self._forward(csize, scanner.feed)
        elif method == STORED:
            csize = yield from self._stored_until_descriptor(scanner.feed, zip64)
        else:
            scanned = yield from self._inflate(csize if not descriptor else None, scanner, name)
            if self.lost:
                return False
            csize = self.position - data_start
        if descriptor and method != STORED:
            yield from self._skip_descriptor(zip64)
        self.current = None
        self.found.merge(scanner.finish(), f"member {name[:100]!r}")
        self._record(start, csize, name, method, flags, scanned)
        return True

    def _record(
        self, offset: int, csize: int, name: str, method: int, flags: int, scanned: bool
    ) -> None:
        if len(self.offsets) >= MAX_MEMBERS:
            self.found.note(
                f"more than {MAX_MEMBERS} members: the directory was not checked against them"
            )
            return
        self.offsets.append(offset)
        self.members.append(csize)
        packed = _crc(name) | min(method, 0xFFFF) << 32
        self.members.append(packed | (SCANNED if scanned else 0) | (ENCRYPTED * (flags & 1)))

    def _inflate(self, csize: int | None, scanner: Walker, name: str) -> Walk:
        """Inflate a member into `scanner`: `csize` bytes, or up to the deflate stream's end.

        True if every byte it inflates to was scanned.
        """
        inflater = zlib.decompressobj(-15)
        left = csize
        read = written = 0
        skipping = False  # the rest cannot change the result, or is too much: pass over it
        while left is None or left > 0:
            data = yield from self._next()
            if left is not None:
                if len(data) > left:
                    self._unread(data[left:])
                    data = data[:left]
                left -= len(data)
                if skipping or scanner.done:
                    continue
            read += len(data)
            try:
                out = inflater.decompress(data, INFLATE_OUT)
                while True:
                    written += len(out)
                    if written > MAX_EXPANSION * read + EXPANSION_FLOOR:
                        self.found.note(
                            f"member {name[:100]!r} expands more than a hundredfold; "
                            "the rest was not scanned"
                        )
                        if left is None:
                            self.lost = True  # its end is known only by inflating it all
                            return False
                        skipping = True
                        break
                    self.meter.check()
                    scanner.feed(out)
                    if not inflater.unconsumed_tail or inflater.eof:
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, INFLATE_OUT)
            except zlib.error:
                self.found.note(f"member {name[:100]!r}: its deflated data are corrupt")
                self.lost = left is None
                if self.lost:
                    return False
                skipping = True
                continue
            if inflater.eof and left is None:
                self._unread(inflater.unused_data)
                return True
            out = data = b""  # held by this frame while it waits for more: let them go
        return not skipping

    def _skip_descriptor(self, zip64: bool) -> Walk:
        head = yield from self._read(4)
        if head != DESCRIPTOR:
            self._unread(head)
        yield from self._read(20 if zip64 else 12)

    def _stored_until_descriptor(self, sink: Callable[[bytes], None], zip64: bool) -> Walk:
        """Pass a stored member of unknown size: it ends where a data descriptor matches it.

        Returns its size.
        """
        tail = 24 if zip64 else 16  # signature, CRC-32, and two sizes of 8 or 4 bytes
        crc, size, buf = 0, 0, b""
        while True:
            buf += yield from self._next()
            at = buf.find(DESCRIPTOR)
            while at >= 0 and at + tail <= len(buf):
                c = zlib.crc32(buf[:at], crc)
                d_crc = struct.unpack_from("<I", buf, at + 4)[0]
                d_size = struct.unpack_from("<Q" if zip64 else "<I", buf, at + 8)[0]
                if c == d_crc and size + at == d_size:
                    sink(buf[:at])
                    self._unread(buf[at + tail :])
                    return size + at
                at = buf.find(DESCRIPTOR, at + 1)
            keep = len(buf) - tail + 1 if at < 0 else at
            if keep > 0:
                crc = zlib.crc32(buf[:keep], crc)
                size += keep
                sink(buf[:keep])
                buf = buf[keep:]

    # the central directory and the end records

    def _directory_entry(self) -> Walk:
        """Check a central directory entry against the member the walk scanned there."""
        if self.directory is None:
            self.directory = (self.position - 4, 0, 0)
        header = yield from self._read(42)
        flags, method = struct.unpack_from("<HH", header, 4)
        csize, usize = struct.unpack_from("<II", header, 16)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", header, 24)
        (offset,) = struct.unpack_from("<I", header, 38)
        name = _name((yield from self._read(name_len)), flags)
        extras = _extras((yield from self._read(extra_len)))
        yield from self._forward(comment_len, _ignore)
        cd_start, cd_bytes, cd_entries = self.directory
        entry_bytes = 46 + name_len + extra_len + comment_len
        self.directory = (cd_start, cd_bytes + entry_bytes, cd_entries + 1)
        if 0x0001 in extras:
            sizes = _zip64_sizes(extras[0x0001], usize, csize, offset)
            csize, offset = sizes.get("csize", csize), sizes.get("offset", offset)
        at = bisect.bisect_left(self.offsets, offset)
        if at == len(self.offsets) or self.offsets[at] != offset:
            self.found.note(f"the directory lists {name[:100]!r} where no member was scanned")
            return
        walked_csize, packed = self.members[2 * at], self.members[2 * at + 1]
        differ = []
        if packed & 0xFFFFFFFF != _crc(name):
            differ.append("name")
        if (packed >> 32) & 0xFFFF != method:
            differ.append("method")
        if walked_csize != csize:
            differ.append("compressed size")
        if bool(packed & ENCRYPTED) != bool(flags & 1):
            differ.append("encryption")
        if differ:
            self.found.note(
                f"the directory and the member header of {name[:100]!r} disagree on its "
                f"{', '.join(differ)}: readers follow the directory, which was not scanned"
            )

    def _end64(self) -> Walk:
        (size,) = struct.unpack("<Q", (yield from self._read(8)))
        record = yield from self._read(min(size, 44))
        yield from self._forward(size - len(record), _ignore)
        if len(record) >= 44:
            entries, cd_bytes, cd_offset = struct.unpack_from("<QQQ", record, 20)
            self.zip64_directory = (cd_offset, cd_bytes, entries)

    def _end(self) -> Walk:
        """The end record: where it says the directory is, its comment, and nothing after."""
        record = yield from self._read(18)
        _, _, _, entries, cd_bytes, cd_offset, comment_len = struct.unpack("<HHHHIIH", record)
        said = (cd_offset, cd_bytes, entries)
        zip64 = self.zip64_directory
        if zip64 is not None:
            pairs = zip(said, zip64, strict=True)
            said = tuple(z if v in (0xFFFF, 0xFFFFFFFF) else v for v, z in pairs)
        walked = self.directory or (self.position - 22, 0, 0)
        if said != walked and not (walked[2] == 0 and said[1:] == (0, 0)):
            self.found.note(
                "the end record places the directory elsewhere than where it is: "
                "readers would read other members than the ones scanned"
            )
        self.ended = True
        self.comment_len = comment_len
        while len(self.comment) < comment_len:
            self.comment += yield from self._next()
        self.comment, extra = self.comment[:comment_len], self.comment[comment_len:]
        self._unread(extra)
        yield from self._next()
        self.found.note("bytes follow the archive's end record")


def _ignore(_: bytes) -> None:
    pass


def _crc(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass"))


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
