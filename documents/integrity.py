"""Checking the repository's files against its metadata, and removing what nothing owns.

Orphans arise when a process dies between the steps of a write that the server could not run
as one transaction: files no document references, chunks of no file. An upload in progress
is never one: it is in the upload registry with a live lease (renewed while its bytes
arrive), and its `fs.files` document does not exist yet. An upload whose lease ran out is
removed with its bytes (unless they became a file). A revision's file is referenced by its
revision; revisions older than the retention are removed, with their files, by `sweep`.
`sweep`, which the server runs, and `check` with `repair` remove the same things.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from flrepo.documents.backfill import backfill, rebuild_ranks
from flrepo.documents.files import (
    CHUNKS_PER_READ,
    ByteProgress,
    FileStore,
    object_id,
    whole_number,
)
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.ranks import drop_old_rows
from flrepo.documents.revisions import KEYS, FileRevision, drop
from flrepo.documents.runs import Round, TrainingRun
from flrepo.documents.strategy import Strategy
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from flrepo.documents.upload_registry import UploadRegistry
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

# Each metadata collection, and the field that holds its file's id.
REFERENCES = [
    (document.Settings.name, document.FILE_FIELD)
    for document in (MLModel, TrainingResult, Strategy, Transformation, Service, Inferencer)
]
# Training runs: each round's files, and the files a run pins (a list of ids).
REFERENCES += [(Round.Settings.name, "weights_id"), (Round.Settings.name, "aggregator_state_id")]
PINS = (TrainingRun.Settings.name, "pinned_files")
REFERENCES += [PINS]


@dataclass(frozen=True)
class Finding:
    """One problem: what kind, and what it concerns."""

    kind: str
    subject: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    repaired: list[Finding] = field(default_factory=list)

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if f not in self.repaired]


class Repository:
    """The metadata database and the grid database of one repository."""

    def __init__(self, db: AsyncDatabase, grid: AsyncDatabase) -> None:
        self.db = db
        self.files = grid["fs.files"]
        self.chunks = grid["fs.chunks"]
        self.registry = UploadRegistry(grid)
        self.store = FileStore(grid, max_bytes=0)
        self.revisions = db[FileRevision.Settings.name]
        self.owners = {name: db[name] for name in KEYS}

    async def now(self) -> datetime:
        """The database's clock (the one that stamps upload dates and claims)."""
        hello = await self.db.client.admin.command("hello")
        local = hello.get("localTime")
        return local.replace(tzinfo=UTC) if local else datetime.now(UTC)

    async def referenced(self) -> set[str]:
        """Every file id some document points at."""
        ids: set[str] = set()
        for collection, id_field in REFERENCES:
            query = {id_field: {"$type": "string"}}
            async for doc in self.db[collection].find(query, {id_field: 1}):
                ids.update(_ids(doc[id_field]))
        async for doc in self.revisions.find({"file_id": {"$type": "string"}}, {"file_id": 1}):
            ids.add(doc["file_id"])
        return ids

    async def is_referenced(self, file_id: ObjectId) -> bool:
        for collection, id_field in REFERENCES:
            if await self.db[collection].find_one({id_field: str(file_id)}, {"_id": 1}):
                return True
        return bool(await self.revisions.find_one({"file_id": str(file_id)}, {"_id": 1}))

    async def in_progress(self, now: datetime) -> set[Any]:
        """Ids of the uploads in the registry: their chunks wait, with no file, for the
        rest (a finished resumable upload's file, until it expires). Those whose lease ran
        out are no orphans either: they are removed as expired uploads, registry first."""
        return await self.registry.registered(now)

    async def drop_unfinished(self, files_id: Any) -> None:
        """Delete the chunks of `files_id` unless they became a file (that file keeps them)."""
        if await self.files.find_one({"_id": files_id}, {"_id": 1}) is None:
            await self.chunks.delete_many({"files_id": files_id})


def _ids(value: Any) -> list[str]:
    """The file ids a reference field holds: one string, or a list of them (a run's pins)."""
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str)]


def _age_s(when: datetime | None, now: datetime) -> float:
    if when is None:
        return float("inf")
    return (now - when.replace(tzinfo=UTC)).total_seconds()


def _describe(doc: dict[str, Any]) -> str:
    return f"{doc['_id']} ({doc.get('filename')!r}, {doc.get('length')} bytes)"


def _describe_upload(doc: dict[str, Any]) -> str:
    if doc.get("fileId"):
        return f"{doc['_id']} (complete: its file stays)"
    if "length" not in doc:
        return f"{doc['_id']} (a one-shot upload, abandoned)"
    return f"{doc['_id']} ({doc.get('offset')} of {doc['length']} bytes received)"


async def find_expired(repo: Repository, now: datetime) -> list[tuple[Finding, Any]]:
    """Uploads whose lease ran out before `now`, each with its id."""
    return [
        (Finding("expired upload", _describe_upload(doc)), doc["_id"])
        for doc in await repo.registry.expired(now)
    ]


async def remove_expired(repo: Repository, target: Any, now: datetime) -> bool:
    """Remove an expired upload and its bytes, unless its lease was renewed since."""
    if not await repo.registry.remove(target, expired_before=now):
        return False
    await repo.drop_unfinished(target)
    return True


async def find_orphans(repo: Repository, grace_s: float) -> list[tuple[Finding, Any]]:
    """Unreferenced files and chunks of no file, older than `grace_s`; never an upload in
    progress.

    Each finding comes with the id to remove.
    """
    now = await repo.now()
    in_progress = await repo.in_progress(now)
    referenced = await repo.referenced()
    found: list[tuple[Finding, Any]] = []
    async for doc in repo.files.find({}, {"filename": 1, "length": 1, "uploadDate": 1}):
        if str(doc["_id"]) in referenced or doc["_id"] in in_progress:
            continue
        if _age_s(doc.get("uploadDate"), now) > grace_s:
            found.append((Finding("orphaned file", _describe(doc)), doc["_id"]))
    # distinct, answered from the (files_id, n) index, rather than reading every chunk
    for files_id in await repo.chunks.distinct("files_id"):
        if files_id in in_progress or await repo.files.find_one({"_id": files_id}, {"_id": 1}):
            continue
        made = files_id.generation_time if isinstance(files_id, ObjectId) else None
        if _age_s(made, now) > grace_s:
            count = await repo.chunks.count_documents({"files_id": files_id})
            subject = f"{count} chunks of {files_id}, which has no fs.files document"
            found.append((Finding("orphaned chunks", subject), files_id))
    return found


async def remove_orphan(repo: Repository, finding: Finding, target: Any) -> bool:
    """Remove one orphan found by find_orphans, unless it is in progress or referenced now."""
    if target in await repo.in_progress(await repo.now()):
        return False
    if finding.kind == "orphaned file":
        if await repo.is_referenced(target):
            return False
        await repo.files.delete_one({"_id": target})
    elif await repo.files.find_one({"_id": target}, {"_id": 1}):
        return False
    await repo.chunks.delete_many({"files_id": target})
    return True


def _describe_revision(doc: dict[str, Any]) -> str:
    key = ", ".join(f"{name}={value!r}" for name, value in (doc.get("key") or {}).items())
    return f"{doc['_id']} of {doc.get('collection')} {key}: file {doc.get('file_id')!r}"


async def expire_revisions(repo: Repository, before: datetime) -> list[Finding]:
    """Remove the revisions replaced before `before`, with their files."""
    removed = []
    async for doc in repo.revisions.find({"replaced_at": {"$lt": before}}):
        if await drop(repo.owners, repo.revisions, repo.store, doc):
            removed.append(Finding("expired revision", _describe_revision(doc)))
    return removed


async def find_lost_revisions(repo: Repository) -> list[tuple[Finding, dict[str, Any]]]:
    """Revisions whose file id names no file, each with the revision."""
    found = []
    async for doc in repo.revisions.find({}):
        oid = object_id(doc.get("file_id")) if isinstance(doc.get("file_id"), str) else None
        if oid and await repo.files.find_one({"_id": oid}, {"_id": 1}):
            continue
        found.append((Finding("revision of a missing file", _describe_revision(doc)), doc))
    return found


async def sweep(
    repo: Repository,
    grace_s: float,
    orphans: bool = True,
    at: datetime | None = None,
    retention: timedelta | None = None,
) -> list[Finding]:
    """Remove the uploads whose lease ran out before `at` (now) with their bytes, with
    `retention` the revisions older than it with their files, and with `orphans` the orphans
    older than `grace_s`; what was removed."""
    at = at or await repo.now()
    removed = []
    for finding, target in await find_expired(repo, at):
        if await remove_expired(repo, target, at):
            removed.append(finding)
    if retention is not None:
        removed += await expire_revisions(repo, at - retention)
    if orphans:
        for finding, target in await find_orphans(repo, grace_s):
            if await remove_orphan(repo, finding, target):
                removed.append(finding)
        await repo.registry.drop_stale_legacy_claims(await repo.now())
    return removed


async def find_missing(repo: Repository) -> list[tuple[Finding, tuple[str, str, Any, str]]]:
    """Documents whose file id names no file; each with (collection, field, _id, file id)."""
    found = []
    for collection, id_field in REFERENCES:
        query = {id_field: {"$exists": True, "$nin": [None, ""]}}
        async for doc in repo.db[collection].find(query, {id_field: 1}):
            held = doc[id_field]
            for file_id in _ids(held) if isinstance(held, list) else [held]:
                oid = object_id(file_id) if isinstance(file_id, str) else None
                if oid and await repo.files.find_one({"_id": oid}, {"_id": 1}):
                    continue
                # look again: a replacement may have moved it on since
                if not await repo.db[collection].find_one({"_id": doc["_id"], id_field: file_id}):
                    continue
                subject = f"{collection} {doc['_id']}: {id_field} {file_id!r} names no file"
                finding = Finding("reference to a missing file", subject)
                found.append((finding, (collection, id_field, doc["_id"], file_id)))
    return found


async def verify_file(
    repo: Repository, doc: dict[str, Any], progress: Callable[[int], None]
) -> str | None:
    """Why the file's chunks do not make up its length or its sha256 (None if they do)."""
    length = whole_number(doc.get("length"))
    chunk_size = whole_number(doc.get("chunkSize"))
    if chunk_size <= 0:
        return "chunkSize is not positive" if length else None
    expected = -(-length // chunk_size)
    digest = hashlib.sha256()
    n = 0
    while n < expected:
        query = {"files_id": doc["_id"], "n": {"$gte": n, "$lt": n + CHUNKS_PER_READ}}
        batch = await repo.chunks.find(query).sort("n", ASCENDING).to_list()
        if not batch:
            break
        for chunk in batch:
            size = min(chunk_size, length - n * chunk_size)
            if chunk["n"] != n:
                return f"chunk {n} of {expected} is missing"
            if len(chunk["data"]) != size:
                return f"chunk {n} holds {len(chunk['data'])} bytes, not {size}"
            digest.update(chunk["data"])
            progress(size)
            n += 1
    if n != expected:
        return f"chunk {n} of {expected} is missing"
    if await repo.chunks.find_one({"files_id": doc["_id"], "n": {"$gte": expected}}, {"n": 1}):
        return f"it has chunks beyond the {expected} its length needs"
    if doc.get("sha256") and digest.hexdigest() != doc["sha256"]:
        return f"its bytes no longer match its sha256 {doc['sha256']}"
    return None


async def check(
    repo: Repository, grace_s: float, repair: bool, progress: ByteProgress | None = None
) -> Report:
    """Every problem found (and, with `repair`, what `sweep` removes removed, and dangling
    references unset)."""
    report = Report()
    now = await repo.now()
    expired = await find_expired(repo, now)
    orphans = await find_orphans(repo, grace_s)
    missing = await find_missing(repo)
    lost = await find_lost_revisions(repo)
    report.findings += [f for f, _ in expired] + [f for f, _ in orphans] + [f for f, _ in missing]
    report.findings += [f for f, _ in lost]

    total = 0
    async for doc in repo.files.find({}, {"length": 1}):
        total += whole_number(doc.get("length"))
    done = 0

    def advance(nbytes: int) -> None:
        nonlocal done
        done += nbytes
        if progress is not None:
            progress(done, total)

    orphaned = {target for _, target in orphans}
    async for doc in repo.files.find({"_id": {"$nin": list(orphaned)}}):
        problem = await verify_file(repo, doc, advance)
        if problem:
            report.findings.append(Finding("damaged file", f"{_describe(doc)}: {problem}"))

    if repair:
        for finding, target in expired:
            if await remove_expired(repo, target, now):
                report.repaired.append(finding)
        for finding, target in orphans:
            if await remove_orphan(repo, finding, target):
                report.repaired.append(finding)
        for finding, (collection, id_field, doc_id, file_id) in missing:
            unset = {"$set": {id_field: None}}
            if (collection, id_field) == PINS:  # a run forgets only the missing file
                unset = {"$pull": {id_field: file_id}}
            nulled = await repo.db[collection].update_one({"_id": doc_id, id_field: file_id}, unset)
            if nulled.modified_count:
                report.repaired.append(finding)
        for finding, revision in lost:
            query = {"_id": revision["_id"], "file_id": revision.get("file_id")}
            if (await repo.revisions.delete_one(query)).deleted_count:
                report.repaired.append(finding)
        await repo.registry.drop_stale_legacy_claims(await repo.now())
        for finding in await repair_listings(repo.db):
            report.findings.append(finding)
            report.repaired.append(finding)
    return report


async def repair_listings(db: AsyncDatabase) -> list[Finding]:
    """Rank every result again, drop ranking rows of deleted results, and backfill what the
    listing indexes need (a crash between a write and its ranking leaves such gaps)."""
    found = []
    if await drop_old_rows(db):
        found.append(Finding("ranking rows of an older version", "dropped; ranked again"))
    filled = await backfill(db)
    if filled:
        found.append(Finding("not indexed for listings", f"{filled} documents"))
    _, dropped = await rebuild_ranks(db)
    if dropped:
        found.append(Finding("ranking rows of deleted results", f"{dropped} rows"))
    return found
