"""Connecting to MongoDB: Beanie on the metadata database, the file store on the grid database."""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from beanie import init_beanie
from flrepo.documents.aliases import AliasMove, ModelAlias
from flrepo.documents.files import FileStore
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.keys import SigningKey
from flrepo.documents.listing_indexes import LISTING_INDEXES
from flrepo.documents.ml_model import MLModel
from flrepo.documents.revisions import FileRevision
from flrepo.documents.runs import Round, TrainingRun
from flrepo.documents.strategy import Strategy
from flrepo.documents.token import Token
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from flrepo.scanner.scanning import Scanning
from flrepo.scanner.verdicts import PicklePolicy
from flrepo.signing.states import SignaturePolicy
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.errors import DuplicateKeyError

DOCUMENTS = [
    MLModel,
    TrainingResult,
    Strategy,
    Transformation,
    Service,
    Inferencer,
    Token,
    FileRevision,
    SigningKey,  # the keys signatures are verified against
]
DOCUMENTS += [TrainingRun, Round, ModelAlias, AliasMove]

JOURNALED = "journaled"
ACKNOWLEDGED = "acknowledged"

# How long to wait for an unreachable server, unless the URL sets its own.
TIMEOUTS_MS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000}


@dataclass(frozen=True)
class Databases:
    """The two databases of a repository: metadata collections, and the GridFS bucket `fs`."""

    db_name: str = "repository"
    grid_db_name: str = "repository_grid"


def connect(mongodb_url: str, **options: Any) -> AsyncMongoClient:
    """The one way this project opens a MongoDB client: the URL's options win over ours."""
    given = {key.lower() for key in parse_qs(mongodb_url.partition("?")[2])}
    defaults = {k: v for k, v in TIMEOUTS_MS.items() if k.lower() not in given}
    return AsyncMongoClient(mongodb_url, **defaults, **options)


class IndexConflict(Exception):
    """Existing data violates a unique index; the message names the key and a duplicate."""


async def durable_writes(client: AsyncMongoClient, level: str = JOURNALED) -> WriteConcern:
    """The write concern for writes a client is told succeeded.

    `journaled` (the default): on disk before the answer, and on a majority of a replica set.
    `acknowledged`: accepted by the primary (faster; a crash can lose the latest writes).
    A write concern in the MongoDB URL wins over both.
    """
    if client.write_concern.document:
        return client.write_concern
    if level == ACKNOWLEDGED:
        return WriteConcern(w=1)
    hello = await client.admin.command("hello")
    return WriteConcern(w="majority" if "setName" in hello else 1, j=True)


async def has_transactions(client: AsyncMongoClient) -> bool:
    """Whether the server runs multi-document transactions (replica sets and sharded)."""
    hello = await client.admin.command("hello")
    return "setName" in hello or hello.get("msg") == "isdbgrid"


async def init_database(
    client: AsyncMongoClient,
    db_name: str,
    grid_db_name: str,
    max_upload_bytes: int,
    write_concern: str = JOURNALED,
    max_concurrent_uploads: int = 16,
    pickle_policy: PicklePolicy = "report",
    signature_policy: SignaturePolicy = "report",
    scanning: Scanning | None = None,
) -> FileStore:
    """Bind the documents to `db_name`, create the indexes, and open the file store.

    Raises IndexConflict if existing data violates a unique index.
    """
    concern = await durable_writes(client, write_concern)
    await init_beanie(
        database=client.get_database(db_name, write_concern=concern),
        document_models=DOCUMENTS,
        skip_indexes=True,
    )
    await create_indexes(client, db_name, grid_db_name)
    return FileStore(
        client.get_database(grid_db_name, write_concern=concern),
        max_upload_bytes,
        max_concurrent_uploads=max_concurrent_uploads,
        transactions=await has_transactions(client),
        pickle_policy=pickle_policy,
        signature_policy=signature_policy,
        scanning=scanning,
        pins=client.get_database(db_name, write_concern=concern)[TrainingRun.Settings.name],
    )


async def create_indexes(client: AsyncMongoClient, db_name: str, grid_db_name: str) -> None:
    """The documents' unique keys (API.md §1), the listing and ranking indexes, and GridFS's
    indexes, without binding anything."""
    db = client[db_name]
    try:
        for document in DOCUMENTS:
            await db[document.Settings.name].create_indexes(document.Settings.indexes)
        for collection, indexes in LISTING_INDEXES.items():
            await db[collection].create_indexes(indexes)
        await FileStore(client[grid_db_name], max_bytes=0).create_indexes()
    except DuplicateKeyError as exc:
        raise IndexConflict(_describe(exc)) from None


def _describe(exc: DuplicateKeyError) -> str:
    """One line from a duplicate-key error: collection, key fields and the duplicate value."""
    details = exc.details or {}
    message = str(details.get("errmsg") or exc)
    where = re.search(r"collection: (\S+)", message)
    pattern = details.get("keyPattern")
    value = details.get("keyValue")
    if pattern and value is not None:
        fields = "+".join(pattern)
        place = where.group(1) if where else "a collection"
        return f"existing data in {place} violates the unique key {fields}: duplicate {value}"
    return f"existing data violates a unique index: {message}"
