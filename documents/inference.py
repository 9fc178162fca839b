"""The inference deployment's collections: gRPC services and inferencers, each metadata in
its collection, keyed by a field named `id`, and a pickled object in GridFS."""

from typing import ClassVar

from beanie import Document
from flrepo.documents.transformation import MachineCapabilities
from pydantic import Field
from pymongo import IndexModel


class Service(Document):
    """A gRPC service the inference server can run (collection `services`)."""

    # Stored as `id`, next to MongoDB's own `_id` (which Beanie calls `id`).
    service_id: str = Field(alias="id")
    description: str | None = None
    needs: MachineCapabilities | None = None
    storage_id: str | None = None
    FILE_FIELD: ClassVar[str] = "storage_id"

    class Settings:
        name = "services"
        indexes = [IndexModel("id", unique=True)]


class Inferencer(Document):
    """An inferencer that loads and runs a kind of model (collection `inferencers`)."""

    inferencer_id: str = Field(alias="id")
    description: str | None = None
    library: str | None = None
    needs: MachineCapabilities | None = None
    use_cuda: bool | None = False
    storage_id: str | None = None
    FILE_FIELD: ClassVar[str] = "storage_id"

    class Settings:
        name = "inferencers"
        indexes = [IndexModel("id", unique=True)]
