"""Operations on ML models and their model files."""

from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.ml_model import MLModel, ModelMeta
from flrepo.documents.trained import TRAINED, settle_trained
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
    update_fields,
)
from flrepo.operations.cursors import Page
from flrepo.operations.validation import check_name


def model_key(model_name: str, model_version: str) -> dict[str, str]:
    return {
        "model_name": check_name(model_name, "model name"),
        "model_version": check_name(model_version, "model version"),
    }


def _what(model_name: str, model_version: str) -> str:
    return f"model {model_name!r} version {model_version!r}"


def _filters(model_name: str | None, library: str | None, trained: bool | None) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if model_name is not None:
        query["model_name"] = check_name(model_name, "model name")
    if library is not None:
        query["meta.library"] = check_name(library, "library")
    if trained is not None:
        readiness.check()  # models of a restore are flagged in the background at startup
        query[TRAINED] = trained  # kept on the model as results come and go (documents/trained)
    return query


@requires("read")
async def list_models(
    model_name: str | None = None,
    library: str | None = None,
    trained: bool | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> list[MLModel]:
    """Models, optionally filtered by name, library, and whether training results exist."""
    return await find_page(MLModel, _filters(model_name, library, trained), limit, offset)


@requires("read")
async def models_connection(
    model_name: str | None = None,
    library: str | None = None,
    trained: bool | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[MLModel]:
    """A page of models after the cursor `after`, oldest first."""
    return await find_connection(MLModel, _filters(model_name, library, trained), first, after)


@requires("read")
async def get_model(model_name: str, model_version: str) -> MLModel | None:
    return await MLModel.find_one(model_key(model_name, model_version))


@requires("write")
async def create_model(model_name: str, model_version: str, meta: ModelMeta | None) -> MLModel:
    model = MLModel(**model_key(model_name, model_version), meta=meta)
    await insert_new(model, _what(model_name, model_version), {TRAINED: False})
    db = MLModel.get_pymongo_collection().database
    await settle_trained(db, model.model_name, model.model_version)
    return model


@requires("write")
async def update_model_meta(model_name: str, model_version: str, meta: ModelMeta) -> MLModel:
    return await update_fields(
        MLModel,
        model_key(model_name, model_version),
        {"meta": meta.model_dump()},
        _what(model_name, model_version),
    )


def model_file_target(model_name: str, model_version: str) -> FileTarget[MLModel]:
    return FileTarget(
        MLModel,
        model_key(model_name, model_version),
        MLModel.FILE_FIELD,
        f"model/{model_name}/{model_version}",
        _what(model_name, model_version),
    )


@requires("write")
async def upload_model_file(
    files: FileStore,
    model_name: str,
    model_version: str,
    source: FileSource,
    sha256: str | None = None,
) -> MLModel:
    return await attach_file(files, model_file_target(model_name, model_version), source, sha256)


@requires("delete")
async def delete_model(files: FileStore, model_name: str, model_version: str) -> bool:
    return await delete_with_file(
        files,
        MLModel,
        model_key(model_name, model_version),
        MLModel.FILE_FIELD,
        _what(model_name, model_version),
    )
