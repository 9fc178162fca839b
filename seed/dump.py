"""Dumping the repository's namespaces to an archive that `mongorestore --archive` accepts."""

import contextlib
import gzip
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from flrepo.documents.database import Databases, connect
from flrepo.documents.token import Token
from flrepo.seed.archive import ArchiveWriter
from flrepo.seed.bsonio import split_documents
from flrepo.seed.errors import SeedError
from flrepo.seed.metadata import CollectionInfo, metadata_json
from flrepo.seed.restore import (
    CANONICAL_DB,
    CANONICAL_GRID_DB,
    database_message,
    format_bytes,
    plural,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

TOOL_VERSION = "flrepo-seed 0.1.0"
PRIVATE = Token.Settings.name  # API token hashes: never dumped

Progress = Callable[[int, int], None]


@dataclass
class DumpReport:
    """What a dump wrote."""

    path: str
    compressed: bool
    namespaces: dict[str, int] = field(default_factory=dict)
    documents: int = 0
    nbytes: int = 0
    file_bytes: int = 0

    def summary(self) -> list[str]:
        kind = "gzip archive" if self.compressed else "archive"
        lines = [
            f"dumped {plural(len(self.namespaces), 'namespace')} to {self.path} ({kind}, "
            f"{format_bytes(self.file_bytes)}): {plural(self.documents, 'document')}, "
            f"{format_bytes(self.nbytes)} of BSON"
        ]
        lines += [f"  {ns}: {plural(n, 'document')}" for ns, n in self.namespaces.items()]
        return lines


async def _collections(
    db: AsyncDatabase, archive_db: str
) -> list[tuple[CollectionInfo, AsyncCollection]]:
    """(info as the archive names it, the collection) for each plain collection of `db`."""
    out = []
    async for entry in await db.list_collections():
        name = entry["name"]
        if entry.get("type", "collection") != "collection" or name.startswith("system."):
            continue
        if name == PRIVATE:  # credentials stay out of archives, which are made to be shared
            continue
        indexes = [
            {k: v for k, v in index.items() if k != "ns"}
            async for index in await db[name].list_indexes()
        ]
        uuid = (entry.get("info") or {}).get("uuid")
        uuid_hex = uuid.hex() if isinstance(uuid, bytes) else None
        options: dict[str, Any] = entry.get("options") or {}
        text = metadata_json(name, indexes, options, uuid_hex)
        out.append((CollectionInfo(archive_db, name, text, await _size(db, name)), db[name]))
    out.sort(key=lambda pair: pair[0].collection)
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
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as packed:
            yield packed  # type: ignore[misc]


async def dump(
    databases: Databases,
    mongodb_url: str,
    path: Path,
    *,
    compress: bool = False,
    progress: Progress | None = None,
) -> DumpReport:
    """Write the two repository databases to `path` under their canonical names.

    The archive is written beside `path` and renamed into place once complete.
    """
    report = DumpReport(str(path), compress)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    client = connect(mongodb_url)
    try:
        try:
            server_version = (await client.server_info()).get("version", "")
            plan = await _collections(client[databases.db_name], CANONICAL_DB)
            plan += await _collections(client[databases.grid_db_name], CANONICAL_GRID_DB)
        except PyMongoError as exc:
            raise SeedError(f"cannot read the database: {database_message(exc)}") from None
        total = sum(info.size for info, _ in plan)
        try:
            with _output(partial, compress) as out:
                writer = ArchiveWriter(out, [i for i, _ in plan], server_version, TOOL_VERSION)
                for info, collection in plan:
                    count = 0
                    async for batch in collection.find_raw_batches():
                        count += writer.write(info.db, info.collection, split_documents(batch))
                        if progress is not None:
                            progress(writer.nbytes, max(total, writer.nbytes))
                    writer.end(info.db, info.collection)
                    report.namespaces[info.namespace] = count
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
