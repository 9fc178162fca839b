"""Indexes a restore creates: the project's own, and those an archive's metadata lists."""

from dataclasses import dataclass
from typing import Any

from flrepo.documents.database import DOCUMENTS, Databases, IndexConflict, create_indexes
from flrepo.seed.errors import UniqueIndexError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure

DUPLICATES_SHOWN = 3


@dataclass(frozen=True)
class UniqueKey:
    """A unique index: where it lives and which fields it covers."""

    db: str
    collection: str
    key: tuple[tuple[str, Any], ...]
    name: str

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.key]


def project_unique_keys(databases: Databases) -> list[UniqueKey]:
    """The unique indexes the server's documents and file store declare (API.md §1)."""
    out = []
    for document in DOCUMENTS:
        collection = document.Settings.name
        for index in getattr(document.Settings, "indexes", []):
            spec = index.document
            if spec.get("unique"):
                key = tuple(spec["key"].items())
                out.append(UniqueKey(databases.db_name, collection, key, spec["name"]))
    chunks_key = (("files_id", 1), ("n", 1))
    out.append(UniqueKey(databases.grid_db_name, "fs.chunks", chunks_key, "files_id_1_n_1"))
    return out


async def create_project_indexes(client: AsyncMongoClient, databases: Databases) -> None:
    """The indexes the server creates at startup, a conflict reported as a seed error."""
    try:
        await create_indexes(client, databases.db_name, databases.grid_db_name)
    except IndexConflict as exc:
        raise UniqueIndexError(str(exc)) from None


async def find_duplicates(
    collection: AsyncCollection, fields: list[str], limit: int = DUPLICATES_SHOWN
) -> list[tuple[dict[str, Any], int]]:
    """Up to `limit` key values that more than one document holds, with their counts."""
    group_id = {f"k{i}": f"${field}" for i, field in enumerate(fields)}
    pipeline = [
        {"$group": {"_id": group_id, "count": {"$sum": 1}}},
        {"$match": {"count": {"$gt": 1}}},
        {"$limit": limit},
    ]
    out = []
    async for row in await collection.aggregate(pipeline):
        values = {field: row["_id"].get(f"k{i}") for i, field in enumerate(fields)}
        out.append((values, row["count"]))
    return out


async def check_unique(client: AsyncMongoClient, keys: list[UniqueKey]) -> None:
    """Raise a UniqueIndexError naming the duplicate keys if existing data violates one."""
    for key in keys:
        collection = client[key.db][key.collection]
        if await collection.find_one({}, {"_id": 1}) is None:
            continue
        duplicates = await find_duplicates(collection, key.fields)
        if duplicates:
            shown = "; ".join(
                f"{_format_key(values)} ({count} documents)" for values, count in duplicates
            )
            raise UniqueIndexError(
                f"existing data in {key.db}.{key.collection} violates the unique key "
                f"{'+'.join(key.fields)} ({key.name}): {shown}"
            )


def _format_key(values: dict[str, Any]) -> str:
    return ", ".join(f"{field}={value!r}" for field, value in values.items())


def _normal_key(key: Any) -> tuple[tuple[str, Any], ...]:
    items = key.items() if isinstance(key, dict) else key
    return tuple(
        (field, int(v) if isinstance(v, float) and v.is_integer() else v) for field, v in items
    )


async def create_dump_indexes(
    collection: AsyncCollection, indexes: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Create the indexes a dump's metadata lists, skipping keys an index already covers.

    Returns (created, problems); a duplicate key among the data raises a UniqueIndexError.
    """
    existing = {
        _normal_key(index["key"]): index["name"] async for index in await collection.list_indexes()
    }
    names = set(existing.values())
    created: list[str] = []
    problems: list[str] = []
    namespace = f"{collection.database.name}.{collection.name}"
    for spec in indexes:
        key = _normal_key(spec["key"])
        if key in existing:
            continue
        if spec["name"] in names:
            problems.append(f"{namespace}: index {spec['name']} exists with other keys; kept it")
            continue
        try:
            await collection.database.command({"createIndexes": collection.name, "indexes": [spec]})
        except DuplicateKeyError:
            fields = [field for field, _ in key]
            duplicates = await find_duplicates(collection, fields)
            shown = "; ".join(f"{_format_key(v)} ({n} documents)" for v, n in duplicates)
            raise UniqueIndexError(
                f"existing data in {namespace} violates the archive's unique index "
                f"{spec['name']}: {shown or 'duplicate keys'}"
            ) from None
        except OperationFailure as exc:
            reason = (exc.details or {}).get("errmsg") or str(exc)
            problems.append(f"{namespace}: index {spec['name']} not created ({reason})")
            continue
        existing[key] = spec["name"]
        names.add(spec["name"])
        created.append(f"{namespace}.{spec['name']}")
    return created, problems
