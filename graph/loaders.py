"""Per-request DataLoaders: nested fields cost one query per level, not one per row.

A nested list (a model's training results, a document's revisions) is loaded a page per
parent: the database applies each parent's limit, so no more than a page of each is read.
"""

from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property
from typing import Any, TypeVar

from beanie import Document
from flrepo.documents.files import FileStore, StoredFile
from flrepo.documents.ml_model import MLModel
from flrepo.documents.revisions import KEYS, NEWEST_FIRST, FileRevision
from flrepo.documents.training_result import TrainingResult
from strawberry.dataloader import DataLoader

ModelKey = tuple[str, str]
Key = tuple[Any, ...]
BATCH = 10_000  # fetch a whole batch in one reply where it fits
D = TypeVar("D", bound=Document)
# (model, limit, offset) and (collection, key, limit, offset): a page of one parent's list.
ResultsPage = tuple[ModelKey, int, int]
RevisionsPage = tuple[str, Key, int, int]
MODEL_KEY = ("model_name", "model_version")


def _any_of(keys: Sequence[ModelKey]) -> dict[str, Any]:
    return {"$or": [{"model_name": name, "model_version": version} for name, version in keys]}


async def _find(cls: type[D], query: dict[str, Any]) -> list[D]:
    return await cls.find(query, batch_size=BATCH).sort("_id").to_list()


async def pages_of_children(
    parent: str,
    parent_fields: Sequence[str],
    keys: Sequence[Key],
    child: str,
    child_fields: Sequence[str],
    sort: dict[str, int],
    limit: int,
    offset: int,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One page (`offset`, `limit`, in `sort` order) of the `child` documents of each `parent`
    document whose `parent_fields` are one of `keys`, matched on `child_fields`; one query.

    Each parent's page is cut in the database ($lookup with $limit), so a parent with many
    children costs a page of them, not all.
    """
    names = [f"k{i}" for i in range(len(parent_fields))]
    same = [{"$eq": [f"${c}", f"$${n}"]} for c, n in zip(child_fields, names, strict=True)]
    same += [{"$eq": [f"${name}", value]} for name, value in (extra or {}).items()]
    pipeline: list[dict[str, Any]] = [
        {"$match": {"$or": [dict(zip(parent_fields, key, strict=True)) for key in keys]}},
        {"$project": {name: 1 for name in parent_fields}},
        {
            "$lookup": {
                "from": child,
                "let": {n: f"${p}" for n, p in zip(names, parent_fields, strict=True)},
                "pipeline": [
                    {"$match": {"$expr": {"$and": same}}},
                    {"$sort": sort},
                    {"$skip": offset},
                    {"$limit": limit},
                ],
                "as": "_page",
            }
        },
        {"$unwind": "$_page"},
        {"$replaceRoot": {"newRoot": "$_page"}},
    ]
    collection = FileRevision.get_pymongo_collection().database[parent]
    return await (await collection.aggregate(pipeline, batchSize=BATCH)).to_list()


class Loaders:
    """One request's loaders, each made when first used (most requests use none)."""

    def __init__(self, files: FileStore) -> None:
        self.files = files

    @cached_property
    def file(self) -> DataLoader[str, StoredFile | None]:
        return DataLoader(self._load_files)

    @cached_property
    def model(self) -> DataLoader[ModelKey, MLModel | None]:
        return DataLoader(self._load_models)

    @cached_property
    def results_of_model(self) -> DataLoader[ResultsPage, list[TrainingResult]]:
        return DataLoader(self._load_results)

    @cached_property
    def revisions(self) -> DataLoader[RevisionsPage, list[FileRevision]]:
        return DataLoader(self._load_revisions)

    async def _load_files(self, ids: list[str]) -> list[StoredFile | None]:
        found = await self.files.get_many(ids)
        return [found.get(file_id) for file_id in ids]

    async def _load_models(self, keys: list[ModelKey]) -> list[MLModel | None]:
        models = {(m.model_name, m.model_version): m for m in await _find(MLModel, _any_of(keys))}
        return [models.get(key) for key in keys]

    async def _load_results(self, pages: list[ResultsPage]) -> list[list[TrainingResult]]:
        by_page: dict[ResultsPage, list[TrainingResult]] = {}
        for (limit, offset), keys in _grouped((p[1:], p[0]) for p in pages).items():
            found: dict[ModelKey, list[TrainingResult]] = defaultdict(list)
            for doc in await pages_of_children(
                MLModel.get_collection_name(),
                MODEL_KEY,
                keys,
                TrainingResult.get_collection_name(),
                MODEL_KEY,
                {"_id": 1},
                limit,
                offset,
            ):
                result = TrainingResult.model_validate(doc)
                found[(result.model_name, result.model_version)].append(result)
            for key in keys:
                by_page[(key, limit, offset)] = found.get(key, [])
        return [by_page[page] for page in pages]

    async def _load_revisions(self, pages: list[RevisionsPage]) -> list[list[FileRevision]]:
        by_page: dict[RevisionsPage, list[FileRevision]] = {}
        for (collection, limit, offset), keys in _grouped(
            ((p[0], p[2], p[3]), p[1]) for p in pages
        ).items():
            fields = KEYS[collection]
            found: dict[Key, list[FileRevision]] = defaultdict(list)
            for doc in await pages_of_children(
                collection,
                fields,
                keys,
                FileRevision.get_collection_name(),
                [f"key.{name}" for name in fields],
                dict(NEWEST_FIRST),
                limit,
                offset,
                extra={"collection": collection},
            ):
                revision = FileRevision.model_validate(doc)
                found[tuple(revision.key.get(name) for name in fields)].append(revision)
            for key in keys:
                by_page[(collection, key, limit, offset)] = found.get(key, [])
        return [by_page[page] for page in pages]


def _grouped(pairs: Any) -> dict[Any, list[Any]]:
    """Values by group, each value once, in first-seen order."""
    groups: dict[Any, dict[Any, None]] = defaultdict(dict)
    for group, value in pairs:
        groups[group][value] = None
    return {group: list(values) for group, values in groups.items()}
