"""Subscriptions: the changes of the change feed that a subscriber asked for."""

from collections.abc import AsyncIterator

from flrepo.documents.changes import Change, ChangeFeed, ChangeKind
from flrepo.documents.ml_model import MLModel
from flrepo.documents.training_result import TrainingResult
from flrepo.operations.validation import check_name

MODELS = MLModel.Settings.name
RESULTS = TrainingResult.Settings.name


async def changes(
    feed: ChangeFeed, collections: set[str], **fields: str | None
) -> AsyncIterator[Change]:
    """Every change in `collections` whose document has the given field values (None: any)."""
    wanted = {
        key: check_name(value, key.replace("_", " "))
        for key, value in fields.items()
        if value is not None
    }
    async with feed.subscribe() as subscriber:
        async for change in subscriber:
            if change.collection in collections and all(
                change.document.get(key) == value for key, value in wanted.items()
            ):
                yield change


async def results_added(
    feed: ChangeFeed, model_name: str | None, model_version: str | None
) -> AsyncIterator[TrainingResult]:
    """Training results as they are created."""
    async for change in changes(
        feed, {RESULTS}, model_name=model_name, model_version=model_version
    ):
        if change.kind is ChangeKind.CREATED:
            yield TrainingResult.model_validate(change.document)


async def model_changes(feed: ChangeFeed, model_name: str | None) -> AsyncIterator[Change]:
    """Models as they are created, updated, given a new file, or deleted."""
    async for change in changes(feed, {MODELS}, model_name=model_name):
        yield change
