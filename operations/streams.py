"""Whole lists read in bounded batches, for answers written while the cursor is read.

Each `stream_*` operation checks access and its arguments and reads the first batch when
it runs, so that a refusal or an error comes before an answer starts and an empty list is
known (a name lookup retries with the names as given, as `requires` does for lists). The
rest is read batch by batch as the answer is written: memory stays one batch, whatever the
size of the collection.
"""

from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from beanie import Document
from flrepo.documents.inference import Inferencer, Service
from flrepo.documents.ml_model import MLModel
from flrepo.documents.ordering import ORDER
from flrepo.documents.strategy import Strategy
from flrepo.documents.trained import TRAINED
from flrepo.documents.training_result import TrainingResult
from flrepo.documents.transformation import Transformation
from flrepo.operations import readiness
from flrepo.operations.access import requires
from flrepo.operations.validation import check_name

D = TypeVar("D", bound=Document)
BATCH = 256  # documents a batch: bounded memory, few round trips

Batches = AsyncIterator[list[D]]


class DocumentStream(Generic[D]):
    """Documents in listing order, in batches; false if there are none."""

    def __init__(self, first: list[D], rest: "Batches[D]") -> None:
        self.first = first
        self.rest = rest

    def __bool__(self) -> bool:
        return bool(self.first)

    async def batches(self) -> "Batches[D]":
        if self.first:
            yield self.first
        async for batch in self.rest:
            yield batch


async def iter_documents(cls: type[D], query: dict[str, Any], batch: int = BATCH) -> "Batches[D]":
    """Batches of the documents matching `query`, in listing order (the index's order)."""
    cursor = cls.get_pymongo_collection().find(query, sort=ORDER, batch_size=batch)
    try:
        docs: list[D] = []
        async for raw in cursor:
            docs.append(cls.model_validate(raw))
            if len(docs) == batch:
                yield docs
                docs = []
        if docs:
            yield docs
    finally:
        await cursor.close()


async def open_stream(cls: type[D], query: dict[str, Any]) -> DocumentStream[D]:
    """The stream of `query`'s documents, its first batch read."""
    batches = iter_documents(cls, query)
    async for first in batches:
        return DocumentStream(first, batches)
    return DocumentStream([], batches)


@requires("read")
async def stream_models(trained: bool = False) -> DocumentStream[MLModel]:
    """Every model, or only those with training results (the flag kept on each model)."""
    if trained:
        readiness.check()  # models of a restore are flagged in the background at startup
    return await open_stream(MLModel, {TRAINED: True} if trained else {})


@requires("read")
async def stream_results(
    model_name: str | None = None, model_version: str | None = None
) -> DocumentStream[TrainingResult]:
    """Every training result, or those of one model version."""
    query: dict[str, Any] = {}
    if model_name is not None:
        query["model_name"] = check_name(model_name, "model name")
    if model_version is not None:
        query["model_version"] = check_name(model_version, "model version")
    return await open_stream(TrainingResult, query)


@requires("read")
async def stream_strategies() -> DocumentStream[Strategy]:
    return await open_stream(Strategy, {})


@requires("read")
async def stream_transformations() -> DocumentStream[Transformation]:
    return await open_stream(Transformation, {})


@requires("read")
async def stream_services() -> DocumentStream[Service]:
    return await open_stream(Service, {})


@requires("read")
async def stream_inferencers() -> DocumentStream[Inferencer]:
    return await open_stream(Inferencer, {})
