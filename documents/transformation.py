"""Data transformations: metadata in `transformations`, keyed by a field named `id`."""

from typing import Any, ClassVar

from beanie import Document
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymongo import IndexModel


class MachineCapabilities(BaseModel):
    """What a transformation needs of the machine it runs on (original key names)."""

    model_config = ConfigDict(populate_by_name=True)

    storage: float | None = None
    ram: float | None = Field(default=None, alias="RAM")
    gpu: bool = Field(default=False, alias="GPU")
    preinstalled_libraries: dict[str, Any] | None = None
    available_models: dict[str, Any] | None = None

    @field_validator("gpu", mode="before")
    @classmethod
    def _absent_gpu(cls, value: Any) -> Any:
        """A null GPU need is no GPU need."""
        return False if value is None else value


class Transformation(Document):
    # Stored as `id`, next to MongoDB's own `_id` (which Beanie calls `id`).
    transformation_id: str = Field(alias="id")
    description: str | None = None
    parameter_types: dict[str, Any] | None = None
    default_values: dict[str, Any] | None = None
    outputs: list[str] | None = None
    needs: MachineCapabilities | None = None
    storage_id: str | None = None
    FILE_FIELD: ClassVar[str] = "storage_id"  # the GridFS id of the pickled transformation

    class Settings:
        name = "transformations"
        indexes = [IndexModel("id", unique=True)]
