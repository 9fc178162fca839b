"""Operations on the inference deployment's services and inferencers and their objects.

Both collections work as transformations do: metadata keyed by a field `id`, the object in
GridFS under `service/{id}` or `inferencer/{id}`, its file id in `storage_id`.
"""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from beanie import Document
from flrepo.documents.files import FileStore
from flrepo.documents.inference import Inferencer, Service
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
from flrepo.operations.validation import check_name

D = TypeVar("D", bound=Document)


@dataclass(frozen=True)
class _Collection(Generic[D]):
    """One of the two collections: its document class, the word for one of it, and the
    metadata fields a create or an update writes (besides `id` and `storage_id`)."""

    cls: type[D]
    word: str
    fields: tuple[str, ...]

    def key(self, item_id: str) -> dict[str, str]:
        return {"id": check_name(item_id, f"{self.word} id")}

    def what(self, item_id: str) -> str:
        return f"{self.word} {item_id!r}"

    def values(self, doc: D) -> dict[str, Any]:
        """The metadata of `doc`, in the stored layout."""
        dumped = doc.model_dump(by_alias=True, include=set(self.fields))
        return {name: dumped.get(name) for name in self.fields}

    async def create(self, doc: D) -> D:
        item_id = check_name(getattr(doc, f"{self.word}_id"), f"{self.word} id")
        new = self.cls(**{f"{self.word}_id": item_id}, **self.values(doc))
        return await insert_new(new, self.what(item_id))

    async def update(self, item_id: str, doc: D) -> D:
        return await update_fields(
            self.cls, self.key(item_id), self.values(doc), self.what(item_id)
        )

    def file_target(self, item_id: str) -> FileTarget[D]:
        key = self.key(item_id)
        return FileTarget(
            self.cls, key, self.cls.FILE_FIELD, f"{self.word}/{key['id']}", self.what(item_id)
        )

    async def delete(self, files: FileStore, item_id: str) -> bool:
        key = self.key(item_id)
        return await delete_with_file(files, self.cls, key, self.cls.FILE_FIELD, self.what(item_id))


SERVICES = _Collection(Service, "service", ("description", "needs"))
INFERENCERS = _Collection(Inferencer, "inferencer", ("description", "library", "needs", "use_cuda"))


def service_file_target(service_id: str) -> FileTarget[Service]:
    return SERVICES.file_target(service_id)


def inferencer_file_target(inferencer_id: str) -> FileTarget[Inferencer]:
    return INFERENCERS.file_target(inferencer_id)


@requires("read")
async def list_services(limit: int | None = 100, offset: int = 0) -> list[Service]:
    return await find_page(Service, {}, limit, offset)


@requires("read")
async def get_service(service_id: str) -> Service | None:
    return await Service.find_one(SERVICES.key(service_id))


@requires("write")
async def create_service(service: Service) -> Service:
    """Insert a new service (its `storage_id`, if any, is ignored)."""
    return await SERVICES.create(service)


@requires("write")
async def update_service(service_id: str, service: Service) -> Service:
    """Replace the metadata of `service_id` with that of `service`; the object stays."""
    return await SERVICES.update(service_id, service)


@requires("write")
async def upload_service_file(
    files: FileStore, service_id: str, source: FileSource, sha256: str | None = None
) -> Service:
    return await attach_file(files, SERVICES.file_target(service_id), source, sha256)


@requires("delete")
async def delete_service(files: FileStore, service_id: str) -> bool:
    return await SERVICES.delete(files, service_id)


@requires("read")
async def list_inferencers(limit: int | None = 100, offset: int = 0) -> list[Inferencer]:
    return await find_page(Inferencer, {}, limit, offset)


@requires("read")
async def get_inferencer(inferencer_id: str) -> Inferencer | None:
    return await Inferencer.find_one(INFERENCERS.key(inferencer_id))


@requires("write")
async def create_inferencer(inferencer: Inferencer) -> Inferencer:
    """Insert a new inferencer (its `storage_id`, if any, is ignored)."""
    return await INFERENCERS.create(inferencer)


@requires("write")
async def update_inferencer(inferencer_id: str, inferencer: Inferencer) -> Inferencer:
    """Replace the metadata of `inferencer_id` with that of `inferencer`; the object stays."""
    return await INFERENCERS.update(inferencer_id, inferencer)


@requires("write")
async def upload_inferencer_file(
    files: FileStore, inferencer_id: str, source: FileSource, sha256: str | None = None
) -> Inferencer:
    return await attach_file(files, INFERENCERS.file_target(inferencer_id), source, sha256)


@requires("delete")
async def delete_inferencer(files: FileStore, inferencer_id: str) -> bool:
    return await INFERENCERS.delete(files, inferencer_id)
