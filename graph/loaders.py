"""Per-request DataLoaders: nested fields cost one query per level, not one per row."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from beanie import Document
from flrepo.documents.files import FileStore, StoredFile
from flrepo.documents.ml_model import MLModel
from flrepo.documents.training_result import TrainingResult
from strawberry.dataloader import DataLoader

ModelKey = tuple[str, str]
BATCH = 10_000  # fetch a whole batch in one reply where it fits
D = TypeVar("D", bound=Document)


def _any_of(keys: Sequence[ModelKey]) -> dict[str, Any]:
    return {"$or": [{"model_name": name, "model_version": version} for name, version in keys]}


async def _find(cls: type[D], query: dict[str, Any]) -> list[D]:
    return await cls.find(query, batch_size=BATCH).sort("_id").to_list()


@dataclass
class Loaders:
    files: FileStore
    file: DataLoader[str, StoredFile | None] = field(init=False)
    model: DataLoader[ModelKey, MLModel | None] = field(init=False)
    results_of_model: DataLoader[ModelKey, list[TrainingResult]] = field(init=False)

    def __post_init__(self) -> None:
        self.file = DataLoader(self._load_files)
        self.model = DataLoader(self._load_models)
        self.results_of_model = DataLoader(self._load_results)

    async def _load_files(self, ids: list[str]) -> list[StoredFile | None]:
        found = await self.files.get_many(ids)
        return [found.get(file_id) for file_id in ids]

    async def _load_models(self, keys: list[ModelKey]) -> list[MLModel | None]:
        models = {(m.model_name, m.model_version): m for m in await _find(MLModel, _any_of(keys))}
        return [models.get(key) for key in keys]

    async def _load_results(self, keys: list[ModelKey]) -> list[list[TrainingResult]]:
        by_model: dict[ModelKey, list[TrainingResult]] = defaultdict(list)
        for result in await _find(TrainingResult, _any_of(keys)):
            by_model[(result.model_name, result.model_version)].append(result)
        return [by_model.get(key, []) for key in keys]
