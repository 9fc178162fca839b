"""Streaming reader and writer of the mongodump archive format (plain or gzip)."""

import gzip
import io
import math
import re
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import bson
from bson.int64 import Int64
from flrepo.seed import bsonio, crc64
from flrepo.seed.errors import CorruptDumpError
from flrepo.seed.events import BATCH_BYTES, BATCH_DOCUMENTS, CollectionEnd, Documents, Event
from flrepo.seed.metadata import CollectionInfo

MAGIC = struct.pack("<I", 0x8199E26D)
GZIP_MAGIC = b"\x1f\x8b"
FORMAT_VERSION = "0.1"
READ_BUFFER = 1024 * 1024


# mongorestore parses the header's server version as major.minor.patch (refusing anything else)
# and warns of a cross-version restore unless major.minor is the target server's. The default is
# the release line the deployment runs: compose and the chart use mongo:8, which is 8.2.
DEFAULT_SERVER_VERSION = "8.2.0"
_VERSION = re.compile(r"\d+\.\d+\.\d+([-+].*)?")


def _int32_or_64(value: int) -> int | Int64:
    return value if -(2**31) <= value < 2**31 else Int64(value)


class ArchiveReader:
    """Reads an archive: the prelude when opened, then the body as a stream of events."""

    def __init__(self, stream: BinaryIO, name: str = "archive", raw: BinaryIO | None = None):
        self.name = name
        self._stream = stream
        self._raw = raw
        self.total_bytes = 0
        self.header: dict[str, Any] = {}
        self.collections: list[CollectionInfo] = []
        self._read_prelude()

    def bytes_read(self) -> int:
        raw = self._raw or self._stream
        try:
            return raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self._stream.close()
        if self._raw is not None:
            self._raw.close()

    def _read_prelude(self) -> None:
        magic = bsonio.read_some(self._stream, 4)
        if magic != MAGIC:
            raise CorruptDumpError("not a mongodump archive (wrong magic number)")
        raw = bsonio.read_document(self._stream, "the archive header")
        if raw is None:
            raise CorruptDumpError("the archive header is missing")
        self.header = bsonio.decode(raw, "the archive header")
        if not isinstance(self.header.get("version"), str):
            raise CorruptDumpError("the archive header has no format version")
        seen: set[str] = set()
        while (raw := bsonio.read_document(self._stream, "the collection metadata")) is not None:
            doc = bsonio.decode(raw, "a collection metadata document")
            info = _collection_info(doc)
            if info.namespace in seen:
                raise CorruptDumpError(f"the prelude names {info.namespace} twice")
            seen.add(info.namespace)
            self.collections.append(info)

    def events(self) -> Iterator[Event]:
        """Document batches and collection ends, in archive order; checks every CRC."""
        expected = {c.namespace for c in self.collections if c.type != "timeseries"}
        open_: dict[str, tuple[crc64.Crc64, list[int]]] = {}  # namespace -> crc, [docs, bytes]
        closed: set[str] = set()
        while True:
            raw = bsonio.read_document(self._stream, "a namespace header", allow_end=True)
            if raw is None:
                break
            db, collection, eof, crc = _namespace_header(raw)
            namespace = f"{db}.{collection}"
            if namespace in closed:
                raise CorruptDumpError(f"{namespace} continues after its end marker")
            state = open_.setdefault(namespace, (crc64.Crc64(), [0, 0]))
            if eof:
                terminator = bsonio.read_document(self._stream, f"the end marker of {namespace}")
                if terminator is not None:
                    raise CorruptDumpError(f"the end marker of {namespace} is not terminated")
                if crc64.to_unsigned(crc) != state[0].value:
                    raise CorruptDumpError(
                        f"CRC mismatch for {namespace}: the archive says "
                        f"{crc64.to_unsigned(crc):#018x}, the data gives {state[0].value:#018x}"
                    )
                del open_[namespace]
                closed.add(namespace)
                yield CollectionEnd(db, collection, state[1][0], state[1][1], crc_checked=True)
            else:
                yield from self._segment(db, collection, state[0], state[1])
        unfinished = sorted((expected | set(open_)) - closed)
        if unfinished:
            raise CorruptDumpError(
                f"truncated: the archive ends before the end marker of {', '.join(unfinished)}"
            )

    def _segment(
        self, db: str, collection: str, crc: crc64.Crc64, counts: list[int]
    ) -> Iterator[Documents]:
        namespace = f"{db}.{collection}"
        batch: list[bytes] = []
        nbytes = 0
        while True:
            what = f"document {counts[0] + 1} of {namespace}"
            raw = bsonio.read_document(self._stream, what)
            if raw is None:
                break
            bsonio.check(raw, what)
            crc.update(raw)
            counts[0] += 1
            counts[1] += len(raw)
            batch.append(raw)
            nbytes += len(raw)
            if len(batch) >= BATCH_DOCUMENTS or nbytes >= BATCH_BYTES:
                yield Documents(db, collection, batch, nbytes)
                batch, nbytes = [], 0
        if batch:
            yield Documents(db, collection, batch, nbytes)


def _collection_info(doc: dict[str, Any]) -> CollectionInfo:
    db, collection = doc.get("db"), doc.get("collection")
    if not isinstance(db, str) or not isinstance(collection, str) or not collection:
        raise CorruptDumpError("a collection metadata document has no db or collection name")
    metadata = doc.get("metadata", "")
    kind = doc.get("type") or "collection"
    if not isinstance(metadata, str) or not isinstance(kind, str):
        raise CorruptDumpError(f"the metadata document of {db}.{collection} has invalid fields")
    size = doc.get("size", 0)  # only informs progress; tolerate odd values
    size = int(size) if isinstance(size, int | float) and math.isfinite(size) else 0
    info = CollectionInfo(db, collection, metadata, size, kind)
    info.indexes()  # refuse unreadable metadata before anything is written
    return info


def _namespace_header(raw: bytes) -> tuple[str, str, bool, int]:
    doc = bsonio.decode(raw, "a namespace header")
    db, collection = doc.get("db"), doc.get("collection")
    eof, crc = doc.get("EOF", False), doc.get("CRC", 0)
    if (
        not isinstance(db, str)
        or not isinstance(collection, str)
        or not collection
        or not isinstance(eof, bool)
        or not isinstance(crc, int)
    ):
        raise CorruptDumpError("a namespace header is invalid (expected db, collection, EOF, CRC)")
    return db, collection, eof, int(crc)


def open_archive(path: Path) -> ArchiveReader:
    """Open an archive file, plain or gzip (told apart by the first bytes, not the name)."""
    raw = path.open("rb")
    try:
        start = raw.read(4)
        raw.seek(0)
        stream: BinaryIO
        if start[:2] == GZIP_MAGIC:
            stream = io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), READ_BUFFER)  # type: ignore[arg-type]
        else:
            if start != MAGIC:
                hint = " and not gzip-compressed despite its name" if path.suffix == ".gz" else ""
                raise CorruptDumpError(f"not a mongodump archive (wrong magic number){hint}")
            stream = io.BufferedReader(raw, READ_BUFFER)  # type: ignore[arg-type]
        reader = ArchiveReader(stream, path.name, raw)
        reader.total_bytes = path.stat().st_size
        return reader
    except BaseException:
        raw.close()
        raise


class ArchiveWriter:
    """Writes an archive: prelude first, then segments and end markers with their CRCs.

    Calls for different collections may be interleaved; each switch starts a new segment.
    """

    def __init__(
        self,
        stream: BinaryIO,
        collections: Iterable[CollectionInfo],
        server_version: str = DEFAULT_SERVER_VERSION,
        tool_version: str = "flrepo-seed",
    ):
        self._out = stream
        self.collections = list(collections)
        self._state = {c.namespace: crc64.Crc64() for c in self.collections}
        self._ended: set[str] = set()
        self._current: str | None = None
        self.documents = 0
        self.nbytes = 0
        self.server_version = (
            server_version if _VERSION.fullmatch(server_version) else DEFAULT_SERVER_VERSION
        )
        header = {
            "concurrent_collections": 1,
            "version": FORMAT_VERSION,
            "server_version": self.server_version,
            "tool_version": tool_version,
        }
        stream.write(MAGIC)
        stream.write(bson.encode(header))
        for c in self.collections:
            stream.write(
                bson.encode(
                    {
                        "db": c.db,
                        "collection": c.collection,
                        "metadata": c.metadata,
                        "size": _int32_or_64(c.size),
                        "type": c.type,
                    }
                )
            )
        stream.write(bsonio.TERMINATOR)

    def write(self, db: str, collection: str, documents: Iterable[bytes | memoryview]) -> int:
        """Append raw BSON documents to a collection; returns how many were written."""
        namespace = f"{db}.{collection}"
        crc = self._crc(namespace)
        count = 0
        for raw in documents:
            if self._current != namespace:
                self._close_segment()
                self._out.write(
                    bson.encode({"db": db, "collection": collection, "EOF": False, "CRC": Int64(0)})
                )
                self._current = namespace
            self._out.write(raw)
            crc.update(raw)
            count += 1
            self.nbytes += len(raw)
        self.documents += count
        return count

    def end(self, db: str, collection: str) -> None:
        """Write the collection's end marker with the CRC of all its documents."""
        namespace = f"{db}.{collection}"
        crc = self._crc(namespace)
        self._close_segment()
        marker = {"db": db, "collection": collection, "EOF": True, "CRC": crc.signed}
        self._out.write(bson.encode(marker))
        self._out.write(bsonio.TERMINATOR)
        self._ended.add(namespace)

    def finish(self) -> None:
        """Check that every collection of the prelude got its end marker, then flush."""
        missing = [c.namespace for c in self.collections if c.namespace not in self._ended]
        if missing:
            raise ValueError(f"collections without an end marker: {', '.join(missing)}")
        self._out.flush()

    def _crc(self, namespace: str) -> crc64.Crc64:
        if namespace not in self._state:
            raise ValueError(f"{namespace} is not in the archive's prelude")
        if namespace in self._ended:
            raise ValueError(f"{namespace} has already ended")
        return self._state[namespace]

    def _close_segment(self) -> None:
        if self._current is not None:
            self._out.write(bsonio.TERMINATOR)
            self._current = None
