"""FL aggregation strategies: metadata in `strategies`, the pickled object in GridFS."""

from typing import Any

from beanie import Document
from pymongo import IndexModel


class Strategy(Document):
    strategy_name: str
    strategy_description: str | None = None
    meta: dict[str, Any] | None = None
    strategy_id: str | None = None

    class Settings:
        name = "strategies"
        indexes = [IndexModel("strategy_name", unique=True)]
