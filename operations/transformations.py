"""Operations on data transformations and their pickled objects."""

from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.transformation import Transformation
from flrepo.operations.access import requires
from flrepo.operations.common import (
    FileSource,
    FileTarget,
    attach_file,
    delete_with_file,
    find_page,
    insert_new,
    update_fields,
)
from flrepo.operations.validation import check_name, check_object


def transformation_key(transformation_id: str) -> dict[str, str]:
    return {"id": check_name(transformation_id, "transformation id")}


def _what(transformation_id: str) -> str:
    return f"transformation {transformation_id!r}"


def _fields(transformation: Transformation) -> dict[str, Any]:
    """The metadata a create or an update writes, checked, in the stored layout."""
    return {
        "description": transformation.description,
        "parameter_types": check_object(transformation.parameter_types, "parameter types"),
        "default_values": check_object(transformation.default_values, "default values"),
        "outputs": transformation.outputs,
        "needs": transformation.needs.model_dump(by_alias=True) if transformation.needs else None,
    }


@requires("read")
async def list_transformations(limit: int | None = 100, offset: int = 0) -> list[Transformation]:
    return await find_page(Transformation, {}, limit, offset)


@requires("read")
async def get_transformation(transformation_id: str) -> Transformation | None:
    return await Transformation.find_one(transformation_key(transformation_id))


@requires("write")
async def create_transformation(transformation: Transformation) -> Transformation:
    """Insert a new transformation (its `storage_id`, if any, is ignored)."""
    new = Transformation(
        transformation_id=check_name(transformation.transformation_id, "transformation id"),
        **_fields(transformation),
    )
    return await insert_new(new, _what(transformation.transformation_id))


@requires("write")
async def update_transformation(
    transformation_id: str, transformation: Transformation
) -> Transformation:
    """Replace the metadata of `transformation_id` with that of `transformation`; the file stays."""
    return await update_fields(
        Transformation,
        transformation_key(transformation_id),
        _fields(transformation),
        _what(transformation_id),
    )


def transformation_file_target(transformation_id: str) -> FileTarget[Transformation]:
    return FileTarget(
        Transformation,
        transformation_key(transformation_id),
        Transformation.FILE_FIELD,
        f"transformation/{transformation_id}",
        _what(transformation_id),
    )


@requires("write")
async def upload_transformation_file(
    files: FileStore, transformation_id: str, source: FileSource, sha256: str | None = None
) -> Transformation:
    target = transformation_file_target(transformation_id)
    return await attach_file(files, target, source, sha256)


@requires("delete")
async def delete_transformation(files: FileStore, transformation_id: str) -> bool:
    return await delete_with_file(
        files,
        Transformation,
        transformation_key(transformation_id),
        Transformation.FILE_FIELD,
        _what(transformation_id),
    )
