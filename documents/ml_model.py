"""ML models: metadata in `models`, the zipped model file in GridFS (`model_id`)."""

from typing import ClassVar

from beanie import Document
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel


class ModelMeta(BaseModel):
    library: str | None = None
    description: str | None = None


class MLModel(Document):
    model_name: str
    model_version: str
    meta: ModelMeta | None = None
    model_id: str | None = None
    FILE_FIELD: ClassVar[str] = "model_id"  # the GridFS id of the zipped model file

    class Settings:
        name = "models"
        indexes = [
            IndexModel(
                [("model_name", ASCENDING), ("model_version", ASCENDING)],
                unique=True,
            )
        ]
