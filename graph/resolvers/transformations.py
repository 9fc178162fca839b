"""Operations on data transformations and their pickled objects."""

from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.transformation import MachineCapabilities, Transformation
from flrepo.graph.resolvers.access import requires
from flrepo.graph.resolvers.common import (
    FileSource,
    attach_file,
    delete_with_file,
    find_page,
    insert_new,
    update_fields,
)
from flrepo.graph.validation import check_name, check_object


def transformation_key(transformation_id: str) -> dict[str, str]:
    return {"id": check_name(transformation_id, "transformation id")}


def _what(transformation_id: str) -> str:
    return f"transformation {transformation_id!r}"


def _fields(
    description: str | None,
    parameter_types: dict[str, Any] | None,
    default_values: dict[str, Any] | None,
    outputs: list[str] | None,
    needs: MachineCapabilities | None,
) -> dict[str, Any]:
    """The metadata a create or an update writes, checked."""
    return {
        "description": description,
        "parameter_types": check_object(parameter_types, "parameter types"),
        "default_values": check_object(default_values, "default values"),
        "outputs": outputs,
        "needs": needs,
    }


@requires("read")
async def list_transformations(limit: int | None = 100, offset: int = 0) -> list[Transformation]:
    return await find_page(Transformation, {}, limit, offset)


@requires("read")
async def get_transformation(transformation_id: str) -> Transformation | None:
    return await Transformation.find_one(transformation_key(transformation_id))


@requires("write")
async def create_transformation(
    transformation_id: str,
    description: str | None = None,
    parameter_types: dict[str, Any] | None = None,
    default_values: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    needs: MachineCapabilities | None = None,
) -> Transformation:
    transformation = Transformation(
        transformation_id=check_name(transformation_id, "transformation id"),
        **_fields(description, parameter_types, default_values, outputs, needs),
    )
    return await insert_new(transformation, _what(transformation_id))


@requires("write")
async def update_transformation(
    transformation_id: str,
    description: str | None = None,
    parameter_types: dict[str, Any] | None = None,
    default_values: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
    needs: MachineCapabilities | None = None,
) -> Transformation:
    """Replace the metadata; the stored file stays."""
    fields = _fields(description, parameter_types, default_values, outputs, needs)
    if needs is not None:
        fields["needs"] = needs.model_dump(by_alias=True)
    return await update_fields(
        Transformation, transformation_key(transformation_id), fields, _what(transformation_id)
    )


@requires("write")
async def upload_transformation_file(
    files: FileStore, transformation_id: str, source: FileSource
) -> Transformation:
    return await attach_file(
        files,
        Transformation,
        transformation_key(transformation_id),
        "storage_id",
        f"transformation/{transformation_id}",
        source,
        _what(transformation_id),
    )


@requires("delete")
async def delete_transformation(files: FileStore, transformation_id: str) -> bool:
    return await delete_with_file(
        files,
        Transformation,
        transformation_key(transformation_id),
        "storage_id",
        _what(transformation_id),
    )
