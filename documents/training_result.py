"""Training results: metrics in `results`, the final weights in GridFS (`weights_id`)."""

from typing import Any, ClassVar

from beanie import Document
from pymongo import ASCENDING, IndexModel


class TrainingResult(Document):
    model_name: str
    model_version: str
    training_id: str
    configuration_id: str | None = None
    results: dict[str, Any] | None = None
    weights_id: str | None = None
    FILE_FIELD: ClassVar[str] = "weights_id"  # the GridFS id of the final weights

    class Settings:
        name = "results"
        indexes = [
            IndexModel(
                [
                    ("model_name", ASCENDING),
                    ("model_version", ASCENDING),
                    ("training_id", ASCENDING),
                ],
                unique=True,
            )
        ]
