"""FL aggregation strategies: metadata in `strategies`, the pickled object in GridFS."""

from typing import Any, ClassVar

from beanie import Document
from pymongo import IndexModel


class Strategy(Document):
    strategy_name: str
    strategy_description: str | None = None
    meta: dict[str, Any] | None = None
    strategy_id: str | None = None
    FILE_FIELD: ClassVar[str] = "strategy_id"  # the GridFS id of the pickled strategy

    class Settings:
        name = "strategies"
        indexes = [IndexModel("strategy_name", unique=True)]
