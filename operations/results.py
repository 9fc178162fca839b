"""Operations on training results and their weights."""

import asyncio
from typing import Any

from bson import ObjectId
from flrepo.documents.errors import InvalidInput
from flrepo.documents.files import FileStore
from flrepo.documents.ranks import rank_new, unrank
from flrepo.documents.trained import settle_trained
from flrepo.documents.training_result import TrainingResult
from flrepo.operations import readiness
from flrepo.operations.access import requires
from flrepo.operations.common import (
    FileSource,
    FileTarget,
    attach_file,
    delete_with_file,
    find_connection,
    find_page,
    insert_new,
)
from flrepo.operations.cursors import Page, check_first
from flrepo.operations.models import model_key
from flrepo.operations.ranking import Ranking
from flrepo.operations.validation import MAX_NAME_LENGTH, check_name, check_object, check_page


def result_key(model_name: str, model_version: str, training_id: str) -> dict[str, str]:
    return {
        **model_key(model_name, model_version),
        "training_id": check_name(training_id, "training id"),
    }


def _what(model_name: str, model_version: str, training_id: str) -> str:
    return f"training result {training_id!r} of model {model_name!r} version {model_version!r}"


@requires("read")
async def list_results(
    model_name: str | None = None,
    model_version: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    configuration_id: str | None = None,
    order_by_metric: str | None = None,
    descending: bool = True,
) -> list[TrainingResult]:
    """One page of results, oldest first, or ranked by a metric when `order_by_metric` is set."""
    query = _filters(model_name, model_version, configuration_id)
    if order_by_metric is None:
        return await find_page(TrainingResult, query, limit, offset)
    check_page(limit, offset)
    if limit == 0:
        return []
    ranking = Ranking(check_metric(order_by_metric), descending, query)
    readiness.check()  # a restore's results are ranked in the background at startup
    return await ranking.page(offset, limit or 100)


@requires("read")
async def results_connection(
    model_name: str | None = None,
    model_version: str | None = None,
    configuration_id: str | None = None,
    order_by_metric: str | None = None,
    descending: bool = True,
    first: int = 100,
    after: str | None = None,
) -> Page[TrainingResult]:
    """A page of results after the cursor `after`, in listing order or ranked by a metric."""
    query = _filters(model_name, model_version, configuration_id)
    if order_by_metric is None:
        return await find_connection(TrainingResult, query, first, after)
    check_first(first)
    ranking = Ranking(check_metric(order_by_metric), descending, query)
    readiness.check()  # a restore's results are ranked in the background at startup
    return await ranking.connection(first, after)


def _filters(
    model_name: str | None, model_version: str | None, configuration_id: str | None
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if model_name is not None:
        query["model_name"] = check_name(model_name, "model name")
    if model_version is not None:
        query["model_version"] = check_name(model_version, "model version")
    if configuration_id is not None:
        query["configuration_id"] = check_name(configuration_id, "configuration id")
    return query


def check_metric(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a metric name is 1 to {MAX_NAME_LENGTH} characters")
    return name


@requires("read")
async def get_result(
    model_name: str, model_version: str, training_id: str
) -> TrainingResult | None:
    return await TrainingResult.find_one(result_key(model_name, model_version, training_id))


@requires("write")
async def create_result(
    model_name: str,
    model_version: str,
    training_id: str,
    configuration_id: str | None,
    results: dict[str, Any] | None,
) -> TrainingResult:
    result = TrainingResult(
        **result_key(model_name, model_version, training_id),
        configuration_id=(
            None if configuration_id is None else check_name(configuration_id, "configuration id")
        ),
        results=check_object(results, "results"),
    )
    db = TrainingResult.get_pymongo_collection().database
    result.id = ObjectId()
    extra = await rank_new(db, {**result.model_dump(), "_id": result.id})
    try:
        await insert_new(result, _what(model_name, model_version, training_id), extra)
    except BaseException:
        await asyncio.shield(unrank(db, result.id))
        raise
    await settle_trained(db, result.model_name, result.model_version)
    return result


def weights_target(
    model_name: str, model_version: str, training_id: str, configuration_id: str
) -> FileTarget[TrainingResult]:
    key = result_key(model_name, model_version, training_id)
    configuration_id = check_name(configuration_id, "configuration id")
    return FileTarget(
        TrainingResult,
        key,
        TrainingResult.FILE_FIELD,
        f"weights/{model_name}/{model_version}/{configuration_id}",
        _what(model_name, model_version, training_id),
        extra={"training_id": training_id},
    )


@requires("write")
async def upload_weights(
    files: FileStore,
    model_name: str,
    model_version: str,
    training_id: str,
    configuration_id: str,
    source: FileSource,
    sha256: str | None = None,
) -> TrainingResult:
    target = weights_target(model_name, model_version, training_id, configuration_id)
    return await attach_file(files, target, source, sha256)


@requires("delete")
async def delete_result(
    files: FileStore, model_name: str, model_version: str, training_id: str
) -> bool:
    key = result_key(model_name, model_version, training_id)
    found = await TrainingResult.find_one(key)
    deleted = await delete_with_file(
        files,
        TrainingResult,
        key,
        TrainingResult.FILE_FIELD,
        _what(model_name, model_version, training_id),
    )
    db = TrainingResult.get_pymongo_collection().database
    if found is not None:
        await unrank(db, found.id)
    await settle_trained(db, key["model_name"], key["model_version"])
    return deleted
