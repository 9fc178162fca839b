"""Dumping the repository's namespaces to an archive that `mongorestore --archive` accepts."""

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import bson
from bson.raw_bson import RawBSONDocument
from flrepo.documents.database import Databases, connect
from flrepo.documents.files import ByteProgress
from flrepo.documents.keys import SigningKey
from flrepo.documents.token import Token
from flrepo.seed.archive import ArchiveWriter
from flrepo.seed.bsonio import split_documents
from flrepo.seed.errors import SeedError
from flrepo.seed.gzip_members import GzipMembers
from flrepo.seed.metadata import CollectionInfo, metadata_json
from flrepo.seed.restore import (
    CANONICAL_DB,
    CANONICAL_GRID_DB,
    database_message,
    format_bytes,
    plural,
)
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

TOOL_VERSION = "flrepo-seed 0.1.0"
FILES, CHUNKS = "fs.files", "fs.chunks"
PRIVATE = Token.Settings.name  # API token hashes: never dumped
# The keys this server trusts are its own configuration: an archive restored elsewhere must
# not make that server trust them.
TRUST = SigningKey.Settings.name


@dataclass
class DumpReport:
    """What a dump wrote."""

    path: str
    compressed: bool
    namespaces: dict[str, int] = field(default_factory=dict)
    views: list[str] = field(default_factory=list)
    documents: int = 0
    nbytes: int = 0
    file_bytes: int = 0
    snapshot: bool = False
    server_version: str = ""
    incomplete_files: int = 0  # files whose chunks were not all there (deleted during the dump)
    stray_chunks: int = 0  # chunks of no file read (an upload in progress, or orphans)

    def summary(self) -> list[str]:
        kind = "gzip archive" if self.compressed else "archive"
        read = "one snapshot" if self.snapshot else "collection by collection, files before chunks"
        lines = [
            f"dumped {plural(len(self.namespaces), 'namespace')} to {self.path} ({kind}, "
            f"{format_bytes(self.file_bytes)}): {plural(self.documents, 'document')}, "
            f"{format_bytes(self.nbytes)} of BSON; read as {read}; "
            f"server version {self.server_version}"
        ]
        lines += [f"  {ns}: {plural(n, 'document')}" for ns, n in self.namespaces.items()]
        lines += [f"  {ns}: view" for ns in self.views]
        if self.incomplete_files:
            lines.append(
                f"left out {plural(self.incomplete_files, 'file')} whose chunks were not all "
                "there (deleted while dumping)"
            )
        if self.stray_chunks:
            lines.append(
                f"left out {plural(self.stray_chunks, 'chunk')} of no complete file "
                "(an upload in progress, or orphans)"
            )
        return lines


@dataclass(eq=False)
class _Planned:
    info: CollectionInfo
    collection: AsyncCollection | None  # None for a view


async def _collections(db: AsyncDatabase, archive_db: str) -> list[_Planned]:
    """What to dump of `db`, named as the archive names it: collections and views."""
    out = []
    async for entry in await db.list_collections():
        name, kind = entry["name"], entry.get("type", "collection")
        if kind not in ("collection", "view") or name.startswith("system."):
            continue
        if name == PRIVATE:  # credentials stay out of archives, which are made to be shared
            continue
        if name == TRUST:
            continue
        indexes = []
        if kind == "collection":
            indexes = [
                {k: v for k, v in index.items() if k != "ns"}
                async for index in await db[name].list_indexes()
            ]
        uuid = (entry.get("info") or {}).get("uuid")
        uuid_hex = uuid.hex() if isinstance(uuid, bytes) else None
        options: dict[str, Any] = entry.get("options") or {}
        text = metadata_json(name, indexes, options, uuid_hex, kind)
        size = await _size(db, name) if kind == "collection" else 0
        info = CollectionInfo(archive_db, name, text, size, kind)
        out.append(_Planned(info, db[name] if kind == "collection" else None))
    out.sort(key=lambda p: (p.info.type != "collection", p.info.collection))
    return out


async def _size(db: AsyncDatabase, name: str) -> int:
    """The collection's data size as collStats reports it (0 when the server cannot say)."""
    try:
        stats = await db.command("collStats", name)
        return int(stats.get("size", 0))
    except (PyMongoError, TypeError, ValueError):
        return 0


@contextlib.contextmanager
def _output(path: Path, compress: bool) -> Iterator[BinaryIO]:
    """The file to write, gzip-compressed if asked."""
    with path.open("wb") as raw:
        if not compress:
            yield raw
            return
        packed = GzipMembers(raw)
        try:
            yield packed  # type: ignore[misc]
            packed.flush()
        finally:
            packed.close()


@contextlib.asynccontextmanager
async def _snapshot(
    client: AsyncMongoClient, probe: AsyncCollection | None
) -> AsyncIterator[AsyncClientSession | None]:
    """A snapshot session where the server offers one (replica sets, MongoDB 5.0+), else None."""
    session = client.start_session(snapshot=True)
    try:
        if probe is not None:
            await probe.find_one({}, {"_id": 1}, session=session)
    except PyMongoError:
        await session.end_session()
        yield None
        return
    try:
        yield session
    finally:
        await session.end_session()


def _key(value: Any) -> bytes:
    """A file id as a dictionary key, whatever its BSON type."""
    return bson.encode({"k": value})


def _expected_chunks(file: dict[str, Any]) -> int | None:
    """How many chunks a GridFS file document's length and chunkSize call for."""
    length, size = file.get("length"), file.get("chunkSize")
    if not isinstance(length, int) or not isinstance(size, int) or size <= 0 or length < 0:
        return None
    return math.ceil(length / size)


class _Dumper:
    """One dump in progress: documents from the database into the archive writer."""

    def __init__(
        self,
        writer: ArchiveWriter,
        session: AsyncClientSession | None,
        report: DumpReport,
        progress: ByteProgress | None,
        total: int,
    ):
        self.writer = writer
        self.session = session
        self.report = report
        self.progress = progress
        self.total = total
        self.read = 0

    async def batches(self, collection: AsyncCollection) -> AsyncIterator[list[memoryview]]:
        """The collection's documents, batch by batch; the next batch is asked for while this
        one is written, so that the database and the archive work at the same time."""
        cursor = collection.find_raw_batches(session=self.session)
        pending = asyncio.ensure_future(anext(cursor, None))
        try:
            while (batch := await pending) is not None:
                pending = asyncio.ensure_future(anext(cursor, None))
                await asyncio.sleep(0)  # let the request go out
                self.read += len(batch)
                if self.progress is not None:
                    self.progress(self.read, max(self.total, self.read))
                yield split_documents(batch)
        finally:
            pending.cancel()
            await cursor.close()

    async def collection(self, info: CollectionInfo, collection: AsyncCollection) -> None:
        count = 0
        async for documents in self.batches(collection):
            count += self.writer.write(info.db, info.collection, documents)
        self.writer.end(info.db, info.collection)
        self.report.namespaces[info.namespace] = count

    async def grid(self, files: _Planned, chunks: _Planned) -> None:
        """fs.files read before fs.chunks; a file goes in only with every one of its chunks.

        GridFS writes a file's chunks before its files document and deletes them after it,
        so a file read first has its chunks when they are read, unless it was deleted since.
        """
        assert files.collection is not None and chunks.collection is not None
        wanted: dict[Any, list[Any]] = {}  # file _id -> [raw document, expected, seen]
        async for documents in self.batches(files.collection):
            for raw in documents:
                doc = RawBSONDocument(bytes(raw))
                wanted[_key(doc["_id"])] = [raw, _expected_chunks(doc), 0]
        count = 0
        for_file = bson.CodecOptions(document_class=RawBSONDocument)
        async for documents in self.batches(chunks.collection):
            keep = []
            for raw in documents:
                state = wanted.get(_key(bson.decode(raw, for_file).get("files_id")))
                if state is None:
                    self.report.stray_chunks += 1
                    continue
                state[2] += 1
                keep.append(raw)
            count += self.writer.write(chunks.info.db, chunks.info.collection, keep)
        self.writer.end(chunks.info.db, chunks.info.collection)
        self.report.namespaces[chunks.info.namespace] = count
        complete = [raw for raw, expected, seen in wanted.values() if expected in (None, seen)]
        self.report.incomplete_files = len(wanted) - len(complete)
        written = self.writer.write(files.info.db, files.info.collection, complete)
        self.writer.end(files.info.db, files.info.collection)
        self.report.namespaces[files.info.namespace] = written


async def dump(
    databases: Databases,
    mongodb_url: str,
    path: Path,
    *,
    compress: bool = False,
    progress: ByteProgress | None = None,
    server_version: str | None = None,
) -> DumpReport:
    """Write the two repository databases to `path` under their canonical names.

    Reads one snapshot where the server offers it; elsewhere fs.files before fs.chunks, so
    that no file goes in without all its chunks. The header's server version is the server's
    own unless `server_version` is given. The archive is written beside `path` and renamed
    into place once complete.
    """
    report = DumpReport(str(path), compress)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    client = connect(mongodb_url)
    try:
        try:
            version = server_version or (await client.server_info()).get("version", "")
            plan = await _collections(client[databases.db_name], CANONICAL_DB)
            plan += await _collections(client[databases.grid_db_name], CANONICAL_GRID_DB)
        except PyMongoError as exc:
            raise SeedError(f"cannot read the database: {database_message(exc)}") from None
        total = sum(p.info.size for p in plan)
        grid = {p.info.collection: p for p in plan if p.info.db == CANONICAL_GRID_DB}
        probe = next((p.collection for p in plan if p.collection is not None), None)
        try:
            async with _snapshot(client, probe) as session:
                report.snapshot = session is not None
                with _output(partial, compress) as out:
                    writer = ArchiveWriter(out, [p.info for p in plan], version, TOOL_VERSION)
                    report.server_version = writer.server_version
                    dumper = _Dumper(writer, session, report, progress, total)
                    paired = FILES in grid and CHUNKS in grid
                    for planned in plan:
                        info = planned.info
                        if planned.collection is None:
                            writer.end(info.db, info.collection)
                            report.views.append(info.namespace)
                        elif not paired or planned not in (grid[FILES], grid[CHUNKS]):
                            await dumper.collection(info, planned.collection)
                        elif info.namespace not in report.namespaces:  # the first of the pair
                            await dumper.grid(grid[FILES], grid[CHUNKS])
                    writer.finish()
                    report.documents, report.nbytes = writer.documents, writer.nbytes
            partial.replace(path)
        except PyMongoError as exc:
            raise SeedError(f"database error while dumping: {database_message(exc)}") from None
        except OSError as exc:
            raise SeedError(f"cannot write {path}: {exc.strerror or exc}") from None
        report.file_bytes = path.stat().st_size
        return report
    finally:
        partial.unlink(missing_ok=True)
        await client.close()
