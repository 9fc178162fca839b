"""Operations on training results and their weights."""

from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.training_result import TrainingResult
from flrepo.graph.resolvers.access import requires
from flrepo.graph.resolvers.common import (
    FileSource,
    attach_file,
    delete_with_file,
    find_page,
    insert_new,
)
from flrepo.graph.resolvers.models import model_key
from flrepo.graph.validation import check_name, check_object


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
) -> list[TrainingResult]:
    query: dict[str, Any] = {}
    if model_name is not None:
        query["model_name"] = check_name(model_name, "model name")
    if model_version is not None:
        query["model_version"] = check_name(model_version, "model version")
    return await find_page(TrainingResult, query, limit, offset)


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


@requires("write")
async def upload_weights(
    files: FileStore,
    model_name: str,
    model_version: str,
    training_id: str,
    configuration_id: str,
    source: FileSource,
) -> TrainingResult:
    key = result_key(model_name, model_version, training_id)
    configuration_id = check_name(configuration_id, "configuration id")
    return await attach_file(
        files,
        TrainingResult,
        key,
        "weights_id",
        f"weights/{model_name}/{model_version}/{configuration_id}",
        source,
        _what(model_name, model_version, training_id),
        extra={"training_id": training_id},
    )


@requires("delete")
async def delete_result(
    files: FileStore, model_name: str, model_version: str, training_id: str
) -> bool:
    return await delete_with_file(
        files,
        TrainingResult,
        result_key(model_name, model_version, training_id),
        "weights_id",
        _what(model_name, model_version, training_id),
    )
