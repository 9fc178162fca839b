"""GraphQL object types (docs/API.md §2), derived from the documents they show."""

import enum
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Generic, NewType, TypeVar

import strawberry
from flrepo.documents import (
    changes,
    inference,
    ml_model,
    revisions,
    strategy,
    token,
    training_result,
    transformation,
)
from flrepo.documents.files import StoredFile as StoredFileRecord
from flrepo.graph.context import Context
from flrepo.graph.permissions import reading_needs_read
from flrepo.graph.signatures import FileSignature
from flrepo.operations.cursors import Page
from flrepo.operations.validation import MAX_PAGE, check_page
from flrepo.scanner.verdicts import Safety, Verdict
from pydantic import BaseModel
from strawberry.experimental import pydantic
from strawberry.scalars import JSON

if TYPE_CHECKING:
    from flrepo.graph.runs import Round, TrainingRun

Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="An integer that may exceed 32 bits (file sizes), as a JSON number",
    serialize=int,
    parse_value=int,
)

Info = strawberry.Info[Context, None]
T = TypeVar("T")
NESTED_PAGE = 20  # a nested list's default page: 100 models x 20 results fit 5000 objects
NestedLimit = Annotated[
    int | None,
    strawberry.argument(
        description=f"At most this many (0 to {MAX_PAGE}; null: {NESTED_PAGE})",
    ),
]


def nested_page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """A nested list's limit and offset, checked (null: the default page, offset 0)."""
    page = (NESTED_PAGE if limit is None else limit, offset or 0)
    check_page(*page)
    return page


def of(cls: type[T], doc: BaseModel) -> T:
    """`cls` showing `doc`, with the id of its file at hand but out of the schema."""
    field = getattr(doc, "FILE_FIELD", None)
    extra = {field: getattr(doc, field)} if field else {}
    return cls.from_pydantic(doc, extra=extra)  # type: ignore[attr-defined]


PickleVerdict = strawberry.enum(
    Verdict,
    name="PickleVerdict",
    description="What a static scan of the file found; the server never unpickles anything",
)


@strawberry.type(description="The imports a pickle names, judged without loading it")
class PickleSafety:
    verdict: PickleVerdict  # type: ignore[valid-type]
    globals: list[str] = strawberry.field(
        description="Every module.name the file's pickles import, as written in them"
    )
    dangerous_globals: list[str] = strawberry.field(
        description="The imports that can run commands or code"
    )
    notes: list[str] = strawberry.field(description="What the scan could not follow, if anything")
    scanner: str | None
    scanned_at: datetime | None
    suspicious_globals: list[str] = strawberry.field(
        description="The imports neither known to be innocuous nor allowed by the operator"
    )
    allowed_by: list[str] = strawberry.field(
        description="The FLREPO_PICKLE_ALLOW entries that made imports count as safe"
    )

    @classmethod
    def of(cls, safety: Safety) -> "PickleSafety":
        return cls(
            verdict=safety.verdict,
            globals=list(safety.globals),
            dangerous_globals=list(safety.dangerous_globals),
            notes=list(safety.notes),
            scanner=safety.scanner,
            scanned_at=safety.scanned_at,
            suspicious_globals=list(safety.suspicious_globals),
            allowed_by=list(safety.allowed_by),
        )


@strawberry.type
class StoredFile:
    id: strawberry.ID = strawberry.field(description="Hex ObjectId of the GridFS file")
    filename: str
    length: Long
    upload_date: datetime
    sha256: str | None = strawberry.field(description="Null for files stored without a hash")
    content_type: str | None
    uploaded_name: str | None = strawberry.field(
        description="The name the file was uploaded as (null if none was given)"
    )
    download_url: str = strawberry.field(description="GET this path for the raw bytes")
    safety: PickleSafety | None = strawberry.field(
        description="Pickle scan of the file; verdict UNSCANNED if it was never scanned"
    )
    signature: FileSignature = strawberry.field(
        description="The file's model-signing signature; state UNSIGNED if it has none"
    )

    @classmethod
    def of(cls, record: StoredFileRecord, root_path: str = "") -> "StoredFile":
        return cls(
            id=strawberry.ID(record.id),
            filename=record.filename,
            length=record.length,
            upload_date=record.upload_date,
            sha256=record.sha256,
            content_type=record.content_type,
            uploaded_name=record.uploaded_name,
            download_url=f"{root_path}/files/{record.id}",
            safety=PickleSafety.of(record.safety),
            signature=FileSignature.of(record.signature, f"{root_path}/files/{record.id}"),
        )


async def load_file(info: Info, file_id: str | None) -> StoredFile | None:
    """The file an id points at, through the request's loader (null if none or dangling)."""
    if not file_id:
        return None
    record = await info.context.loaders.file.load(file_id)
    return StoredFile.of(record, info.context.root_path) if record else None


@strawberry.type(description="A file a document held before it was replaced")
class FileRevision:
    id: strawberry.ID = strawberry.field(description="Give it to a restore mutation or purge")
    replaced_at: datetime = strawberry.field(description="When another file replaced it")
    replaced_by: str = strawberry.field(description="Who replaced it (token name, or anonymous)")
    file_id: strawberry.Private[str]

    @strawberry.field(description="The earlier file; null if it is gone")
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.file_id)

    @classmethod
    def of(cls, doc: revisions.FileRevision) -> "FileRevision":
        return cls(
            id=strawberry.ID(str(doc.id)),
            replaced_at=doc.replaced_at,
            replaced_by=doc.replaced_by,
            file_id=doc.file_id,
        )


async def load_revisions(
    info: Info, doc: type, key: tuple[str, ...], limit: int | None, offset: int | None
) -> list[FileRevision]:
    """A page of the revisions of the document of class `doc` with this key, newest first."""
    page = nested_page(limit, offset)
    collection = doc.Settings.name  # type: ignore[attr-defined]
    found = await info.context.loaders.revisions.load((collection, key, *page))
    return [FileRevision.of(revision) for revision in found]


REVISIONS = "Files it held before, newest first; kept FLREPO_REVISION_RETENTION_DAYS"


@pydantic.type(model=ml_model.ModelMeta, all_fields=True)
class ModelMeta:
    pass


@pydantic.type(model=ml_model.MLModel, use_pydantic_alias=False)
class Model:
    model_name: strawberry.auto
    model_version: strawberry.auto
    meta: strawberry.auto
    model_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.model_id)

    @strawberry.field(description="Its training results, oldest first, a page of them")
    async def training_results(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[Annotated["TrainingResult", strawberry.lazy("flrepo.graph.types")]]:
        page = ((self.model_name, self.model_version), *nested_page(limit, offset))
        return [
            of(TrainingResult, r) for r in await info.context.loaders.results_of_model.load(page)
        ]

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        key = (self.model_name, self.model_version)
        return await load_revisions(info, ml_model.MLModel, key, limit, offset)

    @strawberry.field(description="The model version's training runs, oldest first")
    async def runs(
        self, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[Annotated["TrainingRun", strawberry.lazy("flrepo.graph.runs")]]:
        from flrepo.graph.runs import runs_of_model  # the run types refer to this one

        check_page(limit, offset or 0)
        return await runs_of_model(self.model_name, self.model_version, limit, offset or 0)


@pydantic.type(model=training_result.TrainingResult, use_pydantic_alias=False)
class TrainingResult:
    model_name: strawberry.auto
    model_version: strawberry.auto
    training_id: strawberry.auto
    configuration_id: strawberry.auto
    results: JSON | None
    weights_id: strawberry.Private[str | None]

    @strawberry.field
    async def weights(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.weights_id)

    @strawberry.field
    async def model(self, info: Info) -> Model | None:
        doc = await info.context.loaders.model.load((self.model_name, self.model_version))
        return of(Model, doc) if doc else None

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        key = (self.model_name, self.model_version, self.training_id)
        return await load_revisions(info, training_result.TrainingResult, key, limit, offset)

    @strawberry.field(description="The last round of the run behind the final weights, if any")
    async def last_round(self) -> Annotated["Round", strawberry.lazy("flrepo.graph.runs")] | None:
        from flrepo.graph.runs import last_round_of  # the run types refer to this one

        return await last_round_of(self.model_name, self.model_version, self.training_id)


@pydantic.type(model=strategy.Strategy, use_pydantic_alias=False)
class Strategy:
    strategy_name: strawberry.auto
    strategy_description: strawberry.auto
    meta: JSON | None
    strategy_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.strategy_id)

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        key = (self.strategy_name,)
        return await load_revisions(info, strategy.Strategy, key, limit, offset)


@pydantic.type(model=transformation.MachineCapabilities, all_fields=True, use_pydantic_alias=False)
class MachineCapabilities:
    preinstalled_libraries: JSON | None
    available_models: JSON | None


@pydantic.type(model=transformation.Transformation, use_pydantic_alias=False)
class Transformation:
    transformation_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    parameter_types: JSON | None
    default_values: JSON | None
    outputs: strawberry.auto
    needs: strawberry.auto
    storage_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.storage_id)

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        key = (self.transformation_id,)
        return await load_revisions(info, transformation.Transformation, key, limit, offset)


@pydantic.type(model=inference.Service, use_pydantic_alias=False)
class Service:
    service_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    needs: MachineCapabilities | None
    storage_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.storage_id)

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        return await load_revisions(info, inference.Service, (self.service_id,), limit, offset)


@pydantic.type(model=inference.Inferencer, use_pydantic_alias=False)
class Inferencer:
    inferencer_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    library: strawberry.auto
    needs: MachineCapabilities | None
    use_cuda: strawberry.auto
    storage_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.storage_id)

    @strawberry.field(description=REVISIONS)
    async def revisions(
        self, info: Info, limit: NestedLimit = NESTED_PAGE, offset: int | None = 0
    ) -> list[FileRevision]:
        key = (self.inferencer_id,)
        return await load_revisions(info, inference.Inferencer, key, limit, offset)


# What a write-only caller sees of a mutation's answer: the keys it sent (test_write_only.py).
reading_needs_read(FileRevision)
reading_needs_read(Model, ("model_name", "model_version"))
reading_needs_read(TrainingResult, ("model_name", "model_version", "training_id"))
reading_needs_read(Strategy, ("strategy_name",))
reading_needs_read(Transformation, ("transformation_id",))
reading_needs_read(Service, ("service_id",))
reading_needs_read(Inferencer, ("inferencer_id",))

ChangeKind = strawberry.enum(changes.ChangeKind, description="What happened to a document")


@strawberry.enum(description="The kinds of thing the repository holds")
class Entity(enum.Enum):
    MODEL = ml_model.MLModel.Settings.name
    TRAINING_RESULT = training_result.TrainingResult.Settings.name
    STRATEGY = strategy.Strategy.Settings.name
    TRANSFORMATION = transformation.Transformation.Settings.name
    SERVICE = inference.Service.Settings.name
    INFERENCER = inference.Inferencer.Settings.name


@strawberry.type(
    description="A model was created, had its meta updated or file replaced, or was deleted"
)
class ModelChange:
    kind: ChangeKind
    model_name: str | None = strawberry.field(
        description="Null only for a delete where the database keeps no pre-images"
    )
    model_version: str | None
    model: Model | None = strawberry.field(description="As it is now; null once deleted")

    @classmethod
    def of(cls, change: changes.Change) -> "ModelChange":
        doc = ml_model.MLModel.model_validate(change.document) if change.document else None
        return cls(
            kind=change.kind,
            model_name=change.document.get("model_name"),
            model_version=change.document.get("model_version"),
            model=of(Model, doc) if doc and change.exists else None,
        )


@strawberry.type(description="Something in the repository changed; the key fields say what")
class RepositoryEvent:
    entity: Entity
    kind: ChangeKind
    at: datetime | None = strawberry.field(description="When the database applied the change")
    model_name: str | None
    model_version: str | None
    training_id: str | None
    strategy_name: str | None
    transformation_id: str | None
    service_id: str | None
    inferencer_id: str | None

    @classmethod
    def of(cls, change: changes.Change) -> "RepositoryEvent":
        doc = change.document
        entity = Entity(change.collection)
        key = doc.get("id")  # the key of transformations, services and inferencers alike
        return cls(
            entity=entity,
            kind=change.kind,
            at=change.at,
            model_name=doc.get("model_name"),
            model_version=doc.get("model_version"),
            training_id=doc.get("training_id"),
            strategy_name=doc.get("strategy_name"),
            transformation_id=key if entity is Entity.TRANSFORMATION else None,
            service_id=key if entity is Entity.SERVICE else None,
            inferencer_id=key if entity is Entity.INFERENCER else None,
        )


@strawberry.type(description="An API token; its secret is shown only when it is created")
class ApiToken:
    name: str
    scopes: list[str]
    created: datetime
    expires: datetime | None

    @classmethod
    def of(cls, doc: token.Token) -> "ApiToken":
        return cls(name=doc.name, scopes=doc.scopes, created=doc.created, expires=doc.expires)


@strawberry.type
class CreatedToken:
    token: ApiToken
    secret: str = strawberry.field(description="Send as `Authorization: Bearer <secret>`")


N = TypeVar("N")
R = TypeVar("R")


@strawberry.type(description="Where a page ends, and whether another follows")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page; null on an empty page"
    )


@strawberry.type(description="One item of a page, with the cursor of its place in the list")
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after here")
    node: N


@strawberry.type(description="A page of a list: `first` items after the cursor `after`")
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[R], convert: Callable[[R], N]) -> "Connection[N]":
        edges = [Edge(cursor=cursor, node=convert(item)) for cursor, item in page.edges]
        end = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=end))
