"""Reader of mongodump's directory layout: `dump/<db>/<collection>.bson` and `.metadata.json`."""

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from flrepo.seed import bsonio
from flrepo.seed.errors import CorruptDumpError
from flrepo.seed.events import BATCH_BYTES, BATCH_DOCUMENTS, CollectionEnd, Documents, Event
from flrepo.seed.metadata import CollectionInfo

GZIP_MAGIC = b"\x1f\x8b"
DATA_SUFFIXES = (".bson", ".bson.gz")
METADATA_SUFFIXES = (".metadata.json", ".metadata.json.gz")


def _strip(name: str, suffixes: tuple[str, ...]) -> str | None:
    for suffix in suffixes:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(decompressed stream, raw file) for a dump file, gzip told apart by its first bytes."""
    raw = path.open("rb")
    start = raw.read(2)
    raw.seek(0)
    if start == GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), 1024 * 1024), raw  # type: ignore[arg-type]
    if path.name.endswith(".gz") and start:
        raw.close()
        raise CorruptDumpError(f"{path.name} is named .gz but is not gzip-compressed")
    return raw, raw


def _read_text(path: Path) -> str:
    stream, raw = _open(path)
    try:
        data = bsonio.read_some(stream, 64 * 1024 * 1024)
    finally:
        stream.close()
        raw.close()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptDumpError(f"{path.name} is not UTF-8 text") from None


class DirectoryReader:
    """A dump directory: either the top folder (one subfolder per database) or one database's."""

    def __init__(self, root: Path):
        self.name = root.name
        self._files: dict[str, Path | None] = {}
        self.collections: list[CollectionInfo] = []
        self.total_bytes = 0
        self._done = 0
        self._position: BinaryIO | None = None
        db_dirs = sorted(p for p in root.iterdir() if p.is_dir() and self._holds_dump(p))
        if not db_dirs and self._holds_dump(root):
            db_dirs = [root]
        if not db_dirs:
            raise CorruptDumpError(f"{root} holds no .bson or .metadata.json files")
        for db_dir in db_dirs:
            self._scan(db_dir)
        for name in ("oplog.bson", "oplog.bson.gz"):  # mongodump --oplog --out
            if (root / name).is_file():
                oplog = CollectionInfo("", "oplog", "", (root / name).stat().st_size)
                self.collections.append(oplog)
                self._files[oplog.namespace] = root / name

    @staticmethod
    def _holds_dump(folder: Path) -> bool:
        return any(
            _strip(p.name, DATA_SUFFIXES + METADATA_SUFFIXES) is not None
            for p in folder.iterdir()
            if p.is_file()
        )

    def _scan(self, db_dir: Path) -> None:
        db = db_dir.name
        data: dict[str, Path] = {}
        metadata: dict[str, Path] = {}
        for path in sorted(db_dir.iterdir()):
            if not path.is_file():
                continue
            if (name := _strip(path.name, METADATA_SUFFIXES)) is not None:
                metadata[unquote(name)] = path
            elif (name := _strip(path.name, DATA_SUFFIXES)) is not None:
                data[unquote(name)] = path
        for collection in sorted(set(data) | set(metadata)):
            text = _read_text(metadata[collection]) if collection in metadata else ""
            info = CollectionInfo(db, collection, text)
            info.indexes()  # refuse unreadable metadata before anything is written
            kind = info.parsed().get("type") or "collection"
            if kind not in ("collection", "view") and collection not in data:
                continue  # time series and the like: not the repository's
            file = data.get(collection)
            size = file.stat().st_size if file else 0
            info = CollectionInfo(db, collection, text, size, kind if isinstance(kind, str) else "")
            self.collections.append(info)
            self._files[info.namespace] = file
            self.total_bytes += size

    def bytes_read(self) -> int:
        position = 0
        if self._position is not None:
            try:
                position = self._position.tell()
            except (OSError, ValueError):
                position = 0
        return self._done + position

    def close(self) -> None:
        """Nothing stays open between events."""

    def events(self) -> Iterator[Event]:
        """Each collection's documents in batches, then its end (no checksum in this layout)."""
        for info in self.collections:
            path = self._files[info.namespace]
            count = nbytes = 0
            if path is not None:
                stream, raw = _open(path)
                self._position = raw
                try:
                    batch: list[bytes] = []
                    batch_bytes = 0
                    while True:
                        what = f"document {count + 1} of {info.namespace} ({path.name})"
                        doc = bsonio.read_document(stream, what, allow_end=True)
                        if doc is None:
                            break
                        bsonio.check(doc, what)
                        batch.append(doc)
                        batch_bytes += len(doc)
                        count += 1
                        nbytes += len(doc)
                        if len(batch) >= BATCH_DOCUMENTS or batch_bytes >= BATCH_BYTES:
                            yield Documents(info.db, info.collection, batch, batch_bytes)
                            batch, batch_bytes = [], 0
                    if batch:
                        yield Documents(info.db, info.collection, batch, batch_bytes)
                finally:
                    self._position = None
                    self._done += info.size
                    stream.close()
                    raw.close()
            yield CollectionEnd(info.db, info.collection, count, nbytes, crc_checked=False)
