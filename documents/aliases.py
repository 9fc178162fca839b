"""Named versions of a model (`production`, `candidate`, ...) and the history of their moves."""

from beanie import Document
from flrepo.documents.runs import Stamp
from pymongo import ASCENDING, DESCENDING, IndexModel


class ModelAlias(Document):
    """`alias` of model `model_name` points at `model_version`."""

    model_name: str
    alias: str
    model_version: str
    moved_at: Stamp
    moved_by: str

    class Settings:
        name = "aliases"
        indexes = [IndexModel([("model_name", ASCENDING), ("alias", ASCENDING)], unique=True)]


class AliasMove(Document):
    """One move of an alias: who moved it, when, from which version (null: new) to which."""

    model_name: str
    alias: str
    from_version: str | None = None
    to_version: str
    moved_at: Stamp
    moved_by: str

    class Settings:
        name = "alias_moves"
        indexes = [
            IndexModel([("model_name", ASCENDING), ("alias", ASCENDING), ("moved_at", DESCENDING)])
        ]
