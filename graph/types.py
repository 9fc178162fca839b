"""GraphQL object types (API.md §2), each built from the document it shows."""

from datetime import datetime
from typing import NewType

import strawberry
from flrepo.documents import ml_model, strategy, token, training_result, transformation
from flrepo.documents.files import StoredFile as StoredFileRecord
from flrepo.graph.context import Context
from strawberry.scalars import JSON

Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="An integer that may exceed 32 bits (file sizes), as a JSON number",
    serialize=int,
    parse_value=int,
)

Info = strawberry.Info[Context, None]


@strawberry.type
class StoredFile:
    id: strawberry.ID = strawberry.field(description="Hex ObjectId of the GridFS file")
    filename: str
    length: Long
    upload_date: datetime
    sha256: str | None = strawberry.field(description="Null for files stored without a hash")
    content_type: str | None
    download_url: str = strawberry.field(description="GET this path for the raw bytes")

    @classmethod
    def of(cls, record: StoredFileRecord, root_path: str = "") -> "StoredFile":
        return cls(
            id=strawberry.ID(record.id),
            filename=record.filename,
            length=record.length,
            upload_date=record.upload_date,
            sha256=record.sha256,
            content_type=record.content_type,
            download_url=f"{root_path}/files/{record.id}",
        )


async def load_file(info: Info, file_id: str | None) -> StoredFile | None:
    """The file an id points at, through the request's loader (null if none or dangling)."""
    if not file_id:
        return None
    record = await info.context.loaders.file.load(file_id)
    return StoredFile.of(record, info.context.root_path) if record else None


@strawberry.type
class ModelMeta:
    library: str | None
    description: str | None


@strawberry.type
class Model:
    model_name: str
    model_version: str
    meta: ModelMeta | None
    model_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, doc: ml_model.MLModel) -> "Model":
        meta = doc.meta and ModelMeta(library=doc.meta.library, description=doc.meta.description)
        return cls(
            model_name=doc.model_name,
            model_version=doc.model_version,
            meta=meta,
            model_id=doc.model_id,
        )

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.model_id)

    @strawberry.field
    async def training_results(self, info: Info) -> list["TrainingResult"]:
        key = (self.model_name, self.model_version)
        return [TrainingResult.of(r) for r in await info.context.loaders.results_of_model.load(key)]


@strawberry.type
class TrainingResult:
    model_name: str
    model_version: str
    training_id: str
    configuration_id: str | None
    results: JSON | None
    weights_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, doc: training_result.TrainingResult) -> "TrainingResult":
        return cls(
            model_name=doc.model_name,
            model_version=doc.model_version,
            training_id=doc.training_id,
            configuration_id=doc.configuration_id,
            results=doc.results,
            weights_id=doc.weights_id,
        )

    @strawberry.field
    async def weights(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.weights_id)

    @strawberry.field
    async def model(self, info: Info) -> Model | None:
        doc = await info.context.loaders.model.load((self.model_name, self.model_version))
        return Model.of(doc) if doc else None


@strawberry.type
class Strategy:
    strategy_name: str
    strategy_description: str | None
    meta: JSON | None
    strategy_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, doc: strategy.Strategy) -> "Strategy":
        return cls(
            strategy_name=doc.strategy_name,
            strategy_description=doc.strategy_description,
            meta=doc.meta,
            strategy_id=doc.strategy_id,
        )

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.strategy_id)


@strawberry.type
class MachineCapabilities:
    storage: float | None
    ram: float | None
    gpu: bool
    preinstalled_libraries: JSON | None
    available_models: JSON | None


@strawberry.type
class Transformation:
    id: str
    description: str | None
    parameter_types: JSON | None
    default_values: JSON | None
    outputs: list[str] | None
    needs: MachineCapabilities | None
    storage_id: strawberry.Private[str | None]

    @classmethod
    def of(cls, doc: transformation.Transformation) -> "Transformation":
        needs = doc.needs
        return cls(
            id=doc.transformation_id,
            description=doc.description,
            parameter_types=doc.parameter_types,
            default_values=doc.default_values,
            outputs=doc.outputs,
            needs=MachineCapabilities(
                storage=needs.storage,
                ram=needs.ram,
                gpu=needs.gpu,
                preinstalled_libraries=needs.preinstalled_libraries,
                available_models=needs.available_models,
            )
            if needs
            else None,
            storage_id=doc.storage_id,
        )

    @strawberry.field
    async def file(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.storage_id)


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
