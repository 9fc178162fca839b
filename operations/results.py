"""Operations on training results and their weights."""

from typing import Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.files import FileStore
from flrepo.documents.training_result import TrainingResult
from flrepo.operations.access import requires
from flrepo.operations.common import (
    FileSource,
    FileTarget,
    attach_file,
    delete_with_file,
    find_page,
    insert_new,
)
from flrepo.operations.models import model_key
from flrepo.operations.validation import MAX_NAME_LENGTH, check_name, check_object, check_page


def result_key(model_name: str, model_version: str, training_id: str) -> dict[str, str]:
    return {
        **model_key(model_name, model_version),
        "training_id": check_name(training_id, "training id"),
    }


def _what(model_name: str, model_version: str, training_id: str) -> str:
    return f"training result {training_id!r} of model {model_name!r} version {model_version!r}"


NUMBER_TYPES = ["double", "int", "long", "decimal"]
NAN = float("nan")  # stands for "no number": after every number, whichever the direction


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
    query: dict[str, Any] = {}
    if model_name is not None:
        query["model_name"] = check_name(model_name, "model name")
    if model_version is not None:
        query["model_version"] = check_name(model_version, "model version")
    if configuration_id is not None:
        query["configuration_id"] = check_name(configuration_id, "configuration id")
    if order_by_metric is None:
        return await find_page(TrainingResult, query, limit, offset)
    check_page(limit, offset)
    if limit == 0:
        return []
    metric = check_metric(order_by_metric)
    pipeline = [
        {"$match": query},
        {"$addFields": {"_metric": _metric_value(metric)}},
        {"$addFields": {"_missing": {"$cond": [{"$ne": ["$_metric", NAN]}, 0, 1]}}},
        {"$sort": {"_missing": 1, "_metric": -1 if descending else 1, "_id": 1}},
        {"$skip": offset},
        {"$limit": limit or 100},
        {"$project": {"_metric": 0, "_missing": 0}},
    ]
    return await TrainingResult.aggregate(pipeline, projection_model=TrainingResult).to_list()


def check_metric(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a metric name is 1 to {MAX_NAME_LENGTH} characters")
    return name


def _metric_value(metric: str) -> dict[str, Any]:
    """`results[metric]` as a double: numbers, and strings that parse as one ("0.2429").

    Anything else (missing, null, not a number, NaN) becomes null, ranked after every number.
    The name is a literal key, so dots and dollars in it are plain characters.
    """
    results = {"$cond": [{"$eq": [{"$type": "$results"}, "object"]}, "$results", {}]}
    raw = {"$getField": {"field": {"$literal": metric}, "input": results}}
    as_double = {"$convert": {"input": raw, "to": "double", "onError": NAN, "onNull": NAN}}
    numeric = {"$in": [{"$type": raw}, [*NUMBER_TYPES, "string"]]}
    return {"$cond": [numeric, as_double, NAN]}


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
    return await insert_new(result, _what(model_name, model_version, training_id))


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
    return await delete_with_file(
        files,
        TrainingResult,
        result_key(model_name, model_version, training_id),
        TrainingResult.FILE_FIELD,
        _what(model_name, model_version, training_id),
    )
