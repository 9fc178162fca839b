"""Restoring the repository's namespaces from an archive or a dump directory."""

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson import ObjectId
from bson.raw_bson import RawBSONDocument
from flrepo.documents.database import Databases, connect
from flrepo.documents.files import ByteProgress, FileStore
from flrepo.documents.safety_labels import LabelReport, label_files
from flrepo.seed.collections import OPLOG_NAMESPACE, create_collection, create_view, options_of
from flrepo.seed.errors import CorruptDumpError, SeedError, UniqueIndexError
from flrepo.seed.events import CollectionEnd, Documents, DumpSource, Event
from flrepo.seed.indexes import (
    UniqueKey,
    check_unique,
    create_dump_indexes,
    create_project_indexes,
    project_unique_keys,
)
from flrepo.seed.metadata import CollectionInfo
from flrepo.seed.source import open_dump
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

log = logging.getLogger("flrepo.seed")

# Names the original deployments use; a dump made there restores into the configured names.
CANONICAL_DB = "repository"
CANONICAL_GRID_DB = "repository_grid"
# _ids kept per unfinished collection so that a failed restore can take them back out.
ROLLBACK_LIMIT = 200_000


@dataclass
class NamespaceResult:
    """What a restore did to one collection."""

    source: str
    target: str
    inserted: int = 0
    skipped: int = 0
    nbytes: int = 0
    complete: bool = False
    crc_checked: bool = False
    removed: int = 0
    _ids: list[Any] | None = field(default_factory=list, repr=False)
    _held_data: bool = field(default=True, repr=False)  # False: was empty, no _id to look up


@dataclass
class RestoreReport:
    """Summary of a restore, also of one that failed part way."""

    source: str
    dropped: bool = False
    namespaces: dict[str, NamespaceResult] = field(default_factory=dict)
    skipped_namespaces: dict[str, int] = field(default_factory=dict)
    indexes_created: list[str] = field(default_factory=list)
    index_problems: list[str] = field(default_factory=list)
    views: dict[str, str] = field(default_factory=dict)  # view -> the collection it shows
    labels: LabelReport | None = None  # the pickle scan of the files, once restored

    @property
    def documents(self) -> int:
        return sum(n.inserted for n in self.namespaces.values())

    @property
    def nbytes(self) -> int:
        return sum(n.nbytes for n in self.namespaces.values())

    @property
    def skipped(self) -> int:
        return sum(n.skipped for n in self.namespaces.values())

    def summary(self) -> list[str]:
        """The lines a successful restore prints."""
        lines = [
            f"restored {plural(len(self.namespaces), 'namespace')} from {self.source}: "
            f"{plural(self.documents, 'document')}, {format_bytes(self.nbytes)}"
            + (f", {self.skipped} skipped (their _id already existed)" if self.skipped else "")
            + (" (collections emptied first)" if self.dropped else "")
        ]
        for r in self.namespaces.values():
            name = r.target if r.source == r.target else f"{r.source} -> {r.target}"
            lines.append(
                f"  {name}: {plural(r.inserted, 'document')}"
                + (f", {r.skipped} skipped" if r.skipped else "")
            )
        lines += [f"  {view}: view on {source}" for view, source in self.views.items()]
        if self.skipped_namespaces:
            lines.append(
                "skipped namespaces (not the repository's): "
                + ", ".join(
                    f"{ns} ({plural(count, 'document')})" if count else ns
                    for ns, count in self.skipped_namespaces.items()
                )
            )
        if self.labels is not None:
            lines.append(f"pickle scan of the stored files: {self.labels.summary()}")
        lines += [f"warning: {problem}" for problem in self.index_problems]
        return lines

    def written(self) -> list[str]:
        """What a failed restore had written, collection by collection."""
        lines = []
        for r in self.namespaces.values():
            if r.complete:
                state = "complete, CRC verified" if r.crc_checked else "complete"
                lines.append(f"{r.target}: {plural(r.inserted, 'document')} ({state})")
            elif r.inserted:
                if r.removed == r.inserted:
                    lines.append(
                        f"{r.target}: {plural(r.inserted, 'unverified document')}, removed again"
                    )
                else:
                    left = r.inserted - r.removed
                    lines.append(f"{r.target}: {plural(left, 'unverified document')} left in place")
        if self.dropped:
            emptied = ", ".join(r.target for r in self.namespaces.values())
            lines.append(f"emptied first (--drop): {emptied}")
        return lines or ["nothing was written"]


class RestoreFailed(SeedError):
    """A restore stopped; `report` tells what had been written before."""

    def __init__(self, message: str, report: RestoreReport):
        super().__init__(message)
        self.report = report


def plural(n: int, word: str) -> str:
    """`1 document`, `2 documents`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def database_message(exc: PyMongoError) -> str:
    """The server's own error message, without the reply document pymongo appends."""
    if isinstance(exc, OperationFailure) and isinstance(exc.details, dict):
        message = exc.details.get("errmsg")
        if message:
            return f"{message} ({exc.details.get('codeName', exc.code)})"
    text = str(exc).split(", full error:")[0].split(", Timeout:")[0]
    return re.sub(r" \(configured timeouts: [^)]*\)", "", text)


def format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def target_database(db: str, databases: Databases) -> str | None:
    """The configured database a dump's database maps onto; None if not the repository's."""
    if db in (databases.db_name, CANONICAL_DB) and db != databases.grid_db_name:
        return databases.db_name
    if db in (databases.grid_db_name, CANONICAL_GRID_DB):
        return databases.grid_db_name
    return None


def _target(info: CollectionInfo | Documents | CollectionEnd, databases: Databases) -> str | None:
    db = target_database(info.db, databases)
    if db is None or info.collection.startswith("system."):
        return None
    return f"{db}.{info.collection}"


def _split(namespace: str) -> tuple[str, str]:
    db, _, collection = namespace.partition(".")
    return db, collection


def _id_key(value: Any) -> bytes:
    return bson.encode({"k": value})


async def restore(
    databases: Databases,
    mongodb_url: str,
    path: Path,
    *,
    drop: bool = False,
    progress: ByteProgress | None = None,
) -> RestoreReport:
    """Restore the repository's namespaces of the dump at `path` into the configured databases.

    Without `drop`, documents whose _id exists are skipped and counted. Raises SeedError
    (RestoreFailed once anything may have been written) with a one-line reason.
    """
    source = open_dump(path)
    client: AsyncMongoClient = connect(mongodb_url)
    report = RestoreReport(source=str(path), dropped=drop)
    try:
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            raise SeedError(f"cannot reach the database: {database_message(exc)}") from None
        run = _Restore(client, databases, source, report, drop, progress)
        try:
            await run.prepare()
            await run.stream()
        except CorruptDumpError as exc:
            await run.roll_back()
            raise RestoreFailed(f"{path}: {exc}", report) from None
        except SeedError as exc:
            await run.roll_back()
            raise RestoreFailed(str(exc), report) from None
        except PyMongoError as exc:
            await run.roll_back()
            raise RestoreFailed(f"database error: {database_message(exc)}", report) from None
        except asyncio.CancelledError:  # Ctrl-C: still take back what is unverified
            await run.roll_back()
            for line in report.written():
                log.warning("restore interrupted; written before: %s", line)
            raise
        await _label_files(client, databases, report)
        return report
    finally:
        source.close()
        await client.close()


async def _label_files(
    client: AsyncMongoClient, databases: Databases, report: RestoreReport
) -> None:
    """Scan the files once any were restored; labels that came with the dump are not trusted.

    A failure leaves the data in place: files not yet scanned read UNSCANNED until
    `flrepo scan` labels them.
    """
    files_ns = f"{databases.grid_db_name}.fs.files"
    if not any(r.target == files_ns and r.inserted for r in report.namespaces.values()):
        return
    files = FileStore(client[databases.grid_db_name], max_bytes=0)
    try:
        await files.files.update_many({}, {"$unset": {"safety": ""}})
        report.labels = await label_files(files)
    except PyMongoError as exc:
        log.warning("restored files not scanned for pickles (%s); run `flrepo scan`", exc)


class _Restore:
    """One restore in progress."""

    def __init__(
        self,
        client: AsyncMongoClient,
        databases: Databases,
        source: DumpSource,
        report: RestoreReport,
        drop: bool,
        progress: ByteProgress | None,
    ):
        self.client = client
        self.databases = databases
        self.source = source
        self.report = report
        self.drop = drop
        self.progress = progress
        self.targets: dict[str, str | None] = {}
        self.views: set[str] = set()

    def _collection(self, target: str) -> AsyncCollection:
        db, collection = _split(target)
        return self.client[db][collection]

    def _result(self, namespace: str) -> NamespaceResult | None:
        if namespace not in self.targets:
            info = CollectionInfo(*_split(namespace))
            self.targets[namespace] = _target(info, self.databases)
        target = self.targets[namespace]
        if target is None:
            self.report.skipped_namespaces.setdefault(namespace, 0)
            return None
        if namespace not in self.report.namespaces:
            self.report.namespaces[namespace] = NamespaceResult(namespace, target)
        return self.report.namespaces[namespace]

    async def prepare(self) -> None:
        """Map namespaces, empty them with --drop, create collections (with their options),
        every index and the views before any data."""
        if any(c.namespace == OPLOG_NAMESPACE for c in self.source.collections):
            raise SeedError(
                f"{self.source.name} holds an oplog (mongodump --oplog); it is not replayed "
                "here, and a restore without it could be inconsistent: restore it with "
                "mongorestore --oplogReplay, or dump again without --oplog"
            )
        infos = [c for c in self.source.collections if c.type in ("collection", "")]
        views = [c for c in self.source.collections if c.type == "view"]
        for info in infos:
            self._result(info.namespace)
        view_targets = {}
        for info in views:
            self.views.add(info.namespace)
            if (target := _target(info, self.databases)) is not None:
                view_targets[target] = info
            else:
                self.report.skipped_namespaces.setdefault(info.namespace, 0)
        targets = [r.target for r in self.report.namespaces.values()]
        if self.drop:
            for target in [*targets, *view_targets]:
                await self._collection(target).drop()
        for info in infos:  # empty collections are part of the dump too
            if (target := self.targets[info.namespace]) is not None:
                db, collection = _split(target)
                problem = await create_collection(self.client[db], collection, options_of(info))
                if problem:
                    self.report.index_problems.append(problem)
                # Into an empty collection, an existing _id can only be a rare race: the
                # duplicate-key error counts it as skipped, without a look-up per batch.
                found = await self._collection(target).find_one({}, {"_id": 1})
                self.report.namespaces[info.namespace]._held_data = found is not None
        dump_unique = []
        for info in infos:
            target = self.targets[info.namespace]
            if target is None:
                continue
            for index in info.indexes():
                if index.get("unique"):
                    db, collection = _split(target)
                    key = tuple(index["key"].items())
                    dump_unique.append(UniqueKey(db, collection, key, index["name"]))
        await check_unique(self.client, project_unique_keys(self.databases) + dump_unique)
        await create_project_indexes(self.client, self.databases)
        for info in infos:
            target = self.targets[info.namespace]
            if target is None:
                continue
            created, problems = await create_dump_indexes(self._collection(target), info.indexes())
            self.report.indexes_created += created
            self.report.index_problems += problems
        for target, info in view_targets.items():
            db, view = _split(target)
            options = options_of(info)
            problem = await create_view(self.client[db], view, options)
            if problem:
                self.report.index_problems.append(problem)
            else:
                self.report.views[target] = f"{db}.{options['viewOn']}"

    async def stream(self) -> None:
        """Insert the dump's documents batch by batch; a collection counts once its end is read."""
        total = self.source.total_bytes
        async with contextlib.aclosing(_read_ahead(self.source.events())) as events:
            async for event in events:
                if event.namespace in self.views:
                    continue  # a view's end marker; it holds no documents
                result = self._result(event.namespace)
                if isinstance(event, Documents):
                    if result is None:
                        self.report.skipped_namespaces[event.namespace] += len(event.documents)
                    else:
                        await self._insert(result, event.documents)
                elif result is not None:
                    result.complete = True
                    result.crc_checked = event.crc_checked
                    result._ids = None
                if self.progress is not None:
                    self.progress(self.source.bytes_read(), total)

    async def _insert(self, result: NamespaceResult, documents: list[bytes]) -> None:
        collection = self._collection(result.target)
        raws = [_with_id(raw) for raw in documents]
        if not self.drop and result._held_data:
            ids = [raw["_id"] for raw in raws]
            existing: set[bytes] = set()
            if ids:
                cursor = collection.find({"_id": {"$in": ids}}, {"_id": 1})
                existing = {_id_key(doc["_id"]) async for doc in cursor}
            if existing:
                kept = [r for r in raws if _id_key(r["_id"]) not in existing]
                result.skipped += len(raws) - len(kept)
                raws = kept
        if not raws:
            return
        failed: dict[int, dict[str, Any]] = {}
        try:
            # The dump's documents were valid where they came from, as mongorestore assumes.
            await collection.insert_many(raws, ordered=False, bypass_document_validation=True)
        except BulkWriteError as exc:
            failed = {error["index"]: error for error in exc.details.get("writeErrors", [])}
        conflict = None
        for index, raw in enumerate(raws):
            error = failed.get(index)
            if error is None:
                result.inserted += 1
                result.nbytes += len(raw.raw)
                if result._ids is not None:
                    result._ids.append(raw["_id"])
                    if len(result._ids) > ROLLBACK_LIMIT:
                        result._ids = None
            elif error.get("code") == 11000 and _is_id_error(error):
                result.skipped += 1
            elif conflict is None:
                conflict = (raw, error)
        if conflict is not None:
            raw, error = conflict
            if error.get("code") == 11000:
                value = error.get("keyValue") or error.get("errmsg")
                raise UniqueIndexError(
                    f"document {raw.get('_id')!r} of {result.source} has the key {value}, "
                    f"which another document in {result.target} already holds"
                )
            raise SeedError(
                f"the database refused document {raw.get('_id')!r} of {result.source}: "
                f"{error.get('errmsg')}"
            )

    async def roll_back(self) -> None:
        """Remove what collections that never reached their end marker had inserted."""
        for result in self.report.namespaces.values():
            if result.complete or not result.inserted or result._ids is None:
                continue
            collection = self._collection(result.target)
            ids = result._ids
            try:
                for start in range(0, len(ids), 1000):
                    chunk = ids[start : start + 1000]
                    deleted = await collection.delete_many({"_id": {"$in": chunk}})
                    result.removed += deleted.deleted_count
            except PyMongoError as exc:
                log.warning(
                    "could not remove unverified documents of %s: %s",
                    result.target,
                    database_message(exc),
                )


async def _read_ahead(events: Iterator[Event]) -> AsyncIterator[Event]:
    """The events, the next one read (and checked) on a thread while the database inserts."""
    pending = asyncio.ensure_future(asyncio.to_thread(next, events, None))
    try:
        while (event := await pending) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(next, events, None))
            yield event
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(pending)  # the reader stays in one thread at a time


def _with_id(raw: bytes) -> RawBSONDocument:
    """The document as is, or with an ObjectId _id first (as a driver would add) if it has none.

    Knowing every _id lets a failed restore remove what it inserted.
    """
    document = RawBSONDocument(raw)
    if "_id" in document:
        return document
    return RawBSONDocument(bson.encode({"_id": ObjectId(), **bson.decode(raw)}))


def _is_id_error(error: dict[str, Any]) -> bool:
    pattern = error.get("keyPattern")
    if pattern is not None:
        return list(pattern) == ["_id"]
    return " index: _id_ " in str(error.get("errmsg", ""))


async def repository_is_empty(client: AsyncMongoClient, databases: Databases) -> bool:
    """True when no collection of the two repository databases holds a document."""
    for db_name in (databases.db_name, databases.grid_db_name):
        db = client[db_name]
        for name in await db.list_collection_names():
            if name.startswith("system."):
                continue
            if await db[name].find_one({}, {"_id": 1}) is not None:
                return False
    return True


async def restore_if_empty(
    databases: Databases, mongodb_url: str, path: Path | str
) -> RestoreReport | None:
    """`flrepo serve --seed`: restore `path` when the repository holds nothing, else do nothing.

    Raises SeedError (one-line message) if the archive is damaged or the restore fails.
    """
    client: AsyncMongoClient = connect(mongodb_url)
    try:
        empty = await repository_is_empty(client, databases)
    except PyMongoError as exc:
        raise SeedError(f"cannot reach the database: {database_message(exc)}") from None
    finally:
        await client.close()
    if not empty:
        log.info("the repository already holds data; not seeding it from %s", path)
        return None
    report = await restore(databases, mongodb_url, Path(path))
    for line in report.summary():
        log.info("seed: %s", line)
    return report
