"""GraphQL object types (docs/API.md §2), derived from the documents they show."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NewType, TypeVar

import strawberry
from flrepo.documents import (
    changes,
    inference,
    ml_model,
    strategy,
    token,
    training_result,
    transformation,
)
from flrepo.documents.files import StoredFile as StoredFileRecord
from flrepo.graph.context import Context
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

    @classmethod
    def of(cls, safety: Safety) -> "PickleSafety":
        return cls(
            verdict=safety.verdict,
            globals=list(safety.globals),
            dangerous_globals=list(safety.dangerous_globals),
            notes=list(safety.notes),
            scanner=safety.scanner,
            scanned_at=safety.scanned_at,
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
        )


async def load_file(info: Info, file_id: str | None) -> StoredFile | None:
    """The file an id points at, through the request's loader (null if none or dangling)."""
    if not file_id:
        return None
    record = await info.context.loaders.file.load(file_id)
    return StoredFile.of(record, info.context.root_path) if record else None


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

    @strawberry.field
    async def training_results(
        self, info: Info
    ) -> list[Annotated["TrainingResult", strawberry.lazy("flrepo.graph.types")]]:
        key = (self.model_name, self.model_version)
        return [
            of(TrainingResult, r) for r in await info.context.loaders.results_of_model.load(key)
        ]

    @strawberry.field(description="The model version's training runs, oldest first")
    async def runs(self) -> list[Annotated["TrainingRun", strawberry.lazy("flrepo.graph.runs")]]:
        from flrepo.graph.runs import runs_of_model  # the run types refer to this one

        return await runs_of_model(self.model_name, self.model_version)


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


@pydantic.type(model=inference.Service, use_pydantic_alias=False)
class Service:
    service_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    needs: MachineCapabilities | None
    storage_id: strawberry.Private[str | None]

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.storage_id)


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
