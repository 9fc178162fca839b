"""The GraphQL schema: thin fields over the resolvers in `operations`."""

import functools
from collections.abc import AsyncIterator
from typing import Annotated

import strawberry
from flrepo.documents.changes import ChangeFeed
from flrepo.graph.cache import CachedParser
from flrepo.graph.cost import Limits, query_limits
from flrepo.graph.errors import ErrorCodes
from flrepo.graph.inputs import (
    CreateModelInput,
    CreateStrategyInput,
    CreateTrainingResultInput,
    InferencerInput,
    ModelMetaInput,
    ResultOrder,
    ServiceInput,
    SortDirection,
    TransformationInput,
)
from flrepo.graph.permissions import CanRead
from flrepo.graph.runs import RunMutation, RunQuery, RunSubscription
from flrepo.graph.signatures import SIGNATURE, signed
from flrepo.graph.types import (
    LONG_SCALAR,
    ApiToken,
    Connection,
    CreatedToken,
    Entity,
    Inferencer,
    Info,
    Long,
    Model,
    ModelChange,
    PickleVerdict,
    RepositoryEvent,
    Service,
    StoredFile,
    Strategy,
    TrainingResult,
    Transformation,
    of,
)
from flrepo.operations import (
    connections,
    events,
    files,
    inference,
    models,
    results,
    revisions,
    strategies,
    tokens,
    transformations,
)
from graphql.error import GraphQLError
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

SHA256 = Annotated[
    str | None,
    strawberry.argument(
        description="The file's sha256 in hex, if known: a file with another is refused"
    ),
]
RESTORE = (
    "Make a revision's file the current one again; the current file becomes a revision "
    "(write scope)"
)


FIRST = Annotated[
    int | None,
    strawberry.argument(description="Page size, 0 to 1000; null means 100"),
]
AFTER = Annotated[
    str | None,
    strawberry.argument(description="The `endCursor` of the previous page; null: from the start"),
]


def page(limit: int | None) -> int:
    """A null limit means the default page size, never an unbounded listing (a null offset: 0)."""
    return 100 if limit is None else limit


@strawberry.type
class Query(RunQuery):
    @strawberry.field(description="Models, oldest first")
    async def models(
        self,
        model_name: str | None = None,
        library: str | None = None,
        trained: bool | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[Model]:
        docs = await models.list_models(model_name, library, trained, page(limit), offset or 0)
        return [of(Model, doc) for doc in docs]

    @strawberry.field(description="Models, oldest first, a page after a cursor")
    async def models_connection(
        self,
        model_name: str | None = None,
        library: str | None = None,
        trained: bool | None = None,
        first: FIRST = 100,
        after: AFTER = None,
    ) -> Connection[Model]:
        found = await models.models_connection(model_name, library, trained, page(first), after)
        return Connection.of(found, lambda doc: of(Model, doc))

    @strawberry.field(description="One model version; null when absent")
    async def model(self, model_name: str, model_version: str) -> Model | None:
        doc = await models.get_model(model_name, model_version)
        return of(Model, doc) if doc else None

    @strawberry.field(description="Oldest first, or ranked by a metric with orderBy")
    async def training_results(
        self,
        model_name: str | None = None,
        model_version: str | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
        configuration_id: str | None = None,
        order_by: ResultOrder | None = None,
    ) -> list[TrainingResult]:
        docs = await results.list_results(
            model_name,
            model_version,
            page(limit),
            offset or 0,
            configuration_id=configuration_id,
            order_by_metric=order_by.metric if order_by else None,
            descending=order_by is None or order_by.direction is SortDirection.DESC,
        )
        return [of(TrainingResult, doc) for doc in docs]

    @strawberry.field(
        description="Oldest first, or ranked by a metric with orderBy; a page after a cursor"
    )
    async def training_results_connection(
        self,
        model_name: str | None = None,
        model_version: str | None = None,
        configuration_id: str | None = None,
        order_by: ResultOrder | None = None,
        first: FIRST = 100,
        after: AFTER = None,
    ) -> Connection[TrainingResult]:
        found = await results.results_connection(
            model_name,
            model_version,
            configuration_id,
            order_by_metric=order_by.metric if order_by else None,
            descending=order_by is None or order_by.direction is SortDirection.DESC,
            first=page(first),
            after=after,
        )
        return Connection.of(found, lambda doc: of(TrainingResult, doc))

    @strawberry.field
    async def training_result(
        self, model_name: str, model_version: str, training_id: str
    ) -> TrainingResult | None:
        doc = await results.get_result(model_name, model_version, training_id)
        return of(TrainingResult, doc) if doc else None

    @strawberry.field
    async def strategies(self, limit: int | None = 100, offset: int | None = 0) -> list[Strategy]:
        return [
            of(Strategy, doc) for doc in await strategies.list_strategies(page(limit), offset or 0)
        ]

    @strawberry.field(description="Strategies, oldest first, a page after a cursor")
    async def strategies_connection(
        self, first: FIRST = 100, after: AFTER = None
    ) -> Connection[Strategy]:
        found = await connections.strategies_connection(page(first), after)
        return Connection.of(found, lambda doc: of(Strategy, doc))

    @strawberry.field
    async def strategy(self, strategy_name: str) -> Strategy | None:
        doc = await strategies.get_strategy(strategy_name)
        return of(Strategy, doc) if doc else None

    @strawberry.field
    async def transformations(
        self, limit: int | None = 100, offset: int | None = 0
    ) -> list[Transformation]:
        docs = await transformations.list_transformations(page(limit), offset or 0)
        return [of(Transformation, doc) for doc in docs]

    @strawberry.field(description="Transformations, oldest first, a page after a cursor")
    async def transformations_connection(
        self, first: FIRST = 100, after: AFTER = None
    ) -> Connection[Transformation]:
        found = await connections.transformations_connection(page(first), after)
        return Connection.of(found, lambda doc: of(Transformation, doc))

    @strawberry.field
    async def transformation(self, id: str) -> Transformation | None:
        doc = await transformations.get_transformation(id)
        return of(Transformation, doc) if doc else None

    @strawberry.field(description="Services of the inference deployment, oldest first")
    async def services(self, limit: int | None = 100, offset: int | None = 0) -> list[Service]:
        docs = await inference.list_services(page(limit), offset or 0)
        return [of(Service, doc) for doc in docs]

    @strawberry.field
    async def service(self, id: str) -> Service | None:
        doc = await inference.get_service(id)
        return of(Service, doc) if doc else None

    @strawberry.field(description="Inferencers of the inference deployment, oldest first")
    async def inferencers(
        self, limit: int | None = 100, offset: int | None = 0
    ) -> list[Inferencer]:
        docs = await inference.list_inferencers(page(limit), offset or 0)
        return [of(Inferencer, doc) for doc in docs]

    @strawberry.field
    async def inferencer(self, id: str) -> Inferencer | None:
        doc = await inference.get_inferencer(id)
        return of(Inferencer, doc) if doc else None

    @strawberry.field(description="Stored files, oldest upload first")
    async def files(
        self,
        info: Info,
        filename_prefix: str | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
        safety: Annotated[
            PickleVerdict | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only the files with this pickle scan verdict"),
        ] = None,
    ) -> list[StoredFile]:
        records = await files.list_files(
            info.context.files, filename_prefix, page(limit), offset or 0, safety
        )
        return [StoredFile.of(record, info.context.root_path) for record in records]

    @strawberry.field(description="Stored files, oldest upload first, a page after a cursor")
    async def files_connection(
        self,
        info: Info,
        filename_prefix: str | None = None,
        safety: Annotated[
            PickleVerdict | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only the files with this pickle scan verdict"),
        ] = None,
        first: FIRST = 100,
        after: AFTER = None,
    ) -> Connection[StoredFile]:
        root = info.context.root_path
        found = await files.files_connection(
            info.context.files, filename_prefix, safety, page(first), after
        )
        return Connection.of(found, lambda record: StoredFile.of(record, root))

    @strawberry.field(description="API tokens (needs the admin scope)")
    async def tokens(self) -> list[ApiToken]:
        return [ApiToken.of(doc) for doc in await tokens.list_tokens()]


@strawberry.type
class Mutation(RunMutation):
    @strawberry.mutation
    async def create_model(self, input: CreateModelInput) -> Model:
        doc = input.to_pydantic()
        return of(Model, await models.create_model(doc.model_name, doc.model_version, doc.meta))

    @strawberry.mutation
    async def update_model_meta(
        self, model_name: str, model_version: str, meta: ModelMetaInput
    ) -> Model:
        doc = await models.update_model_meta(model_name, model_version, meta.to_pydantic())
        return of(Model, doc)

    @strawberry.mutation
    async def upload_model_file(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> Model:
        doc = await models.upload_model_file(
            info.context.files, model_name, model_version, signed(file, signature), sha256
        )
        return of(Model, doc)

    @strawberry.mutation
    async def delete_model(self, info: Info, model_name: str, model_version: str) -> bool:
        return await models.delete_model(info.context.files, model_name, model_version)

    @strawberry.mutation
    async def create_training_result(self, input: CreateTrainingResultInput) -> TrainingResult:
        new = input.to_pydantic()
        doc = await results.create_result(
            new.model_name, new.model_version, new.training_id, new.configuration_id, new.results
        )
        return of(TrainingResult, doc)

    @strawberry.mutation
    async def upload_training_weights(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        training_id: str,
        configuration_id: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> TrainingResult:
        doc = await results.upload_weights(
            info.context.files,
            model_name,
            model_version,
            training_id,
            configuration_id,
            signed(file, signature),
            sha256,
        )
        return of(TrainingResult, doc)

    @strawberry.mutation
    async def delete_training_result(
        self, info: Info, model_name: str, model_version: str, training_id: str
    ) -> bool:
        return await results.delete_result(
            info.context.files, model_name, model_version, training_id
        )

    @strawberry.mutation
    async def create_strategy(self, input: CreateStrategyInput) -> Strategy:
        new = input.to_pydantic()
        doc = await strategies.create_strategy(
            new.strategy_name, new.strategy_description, new.meta
        )
        return of(Strategy, doc)

    @strawberry.mutation
    async def update_strategy_meta(self, strategy_name: str, meta: JSON) -> Strategy:
        return of(Strategy, await strategies.update_strategy_meta(strategy_name, meta))

    @strawberry.mutation
    async def upload_strategy_file(
        self,
        info: Info,
        strategy_name: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> Strategy:
        doc = await strategies.upload_strategy_file(
            info.context.files, strategy_name, signed(file, signature), sha256
        )
        return of(Strategy, doc)

    @strawberry.mutation
    async def delete_strategy(self, info: Info, strategy_name: str) -> bool:
        return await strategies.delete_strategy(info.context.files, strategy_name)

    @strawberry.mutation
    async def create_transformation(self, input: TransformationInput) -> Transformation:
        doc = await transformations.create_transformation(input.to_pydantic())
        return of(Transformation, doc)

    @strawberry.mutation(description="Replaces the metadata; the stored file stays")
    async def update_transformation(self, input: TransformationInput) -> Transformation:
        new = input.to_pydantic()
        doc = await transformations.update_transformation(new.transformation_id, new)
        return of(Transformation, doc)

    @strawberry.mutation
    async def upload_transformation_file(
        self,
        info: Info,
        id: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> Transformation:
        doc = await transformations.upload_transformation_file(
            info.context.files, id, signed(file, signature), sha256
        )
        return of(Transformation, doc)

    @strawberry.mutation
    async def delete_transformation(self, info: Info, id: str) -> bool:
        return await transformations.delete_transformation(info.context.files, id)

    @strawberry.mutation
    async def create_service(self, input: ServiceInput) -> Service:
        return of(Service, await inference.create_service(input.to_pydantic()))

    @strawberry.mutation(description="Replaces the metadata; the stored file stays")
    async def update_service(self, input: ServiceInput) -> Service:
        new = input.to_pydantic()
        return of(Service, await inference.update_service(new.service_id, new))

    @strawberry.mutation
    async def upload_service_file(
        self,
        info: Info,
        id: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> Service:
        doc = await inference.upload_service_file(
            info.context.files, id, signed(file, signature), sha256
        )
        return of(Service, doc)

    @strawberry.mutation
    async def delete_service(self, info: Info, id: str) -> bool:
        return await inference.delete_service(info.context.files, id)

    @strawberry.mutation
    async def create_inferencer(self, input: InferencerInput) -> Inferencer:
        return of(Inferencer, await inference.create_inferencer(input.to_pydantic()))

    @strawberry.mutation(description="Replaces the metadata; the stored file stays")
    async def update_inferencer(self, input: InferencerInput) -> Inferencer:
        new = input.to_pydantic()
        return of(Inferencer, await inference.update_inferencer(new.inferencer_id, new))

    @strawberry.mutation
    async def upload_inferencer_file(
        self,
        info: Info,
        id: str,
        file: Upload,
        sha256: SHA256 = None,
        signature: SIGNATURE = None,
    ) -> Inferencer:
        doc = await inference.upload_inferencer_file(
            info.context.files, id, signed(file, signature), sha256
        )
        return of(Inferencer, doc)

    @strawberry.mutation
    async def delete_inferencer(self, info: Info, id: str) -> bool:
        return await inference.delete_inferencer(info.context.files, id)

    @strawberry.mutation(description="A new API token; its secret is shown only here (admin)")
    async def create_token(
        self, name: str, scopes: list[str], expires_days: int | None = None
    ) -> CreatedToken:
        doc, secret = await tokens.create_token(name, scopes, expires_days)
        return CreatedToken(token=ApiToken.of(doc), secret=secret)

    @strawberry.mutation(description="Delete an API token: its secret stops working (admin)")
    async def revoke_token(self, name: str) -> bool:
        return await tokens.revoke_token(name)

    @strawberry.mutation(description=RESTORE)
    async def restore_model_file(
        self, info: Info, model_name: str, model_version: str, revision: strawberry.ID
    ) -> Model:
        doc = await revisions.restore_model_file(
            info.context.files, model_name, model_version, revision
        )
        return of(Model, doc)

    @strawberry.mutation(description=RESTORE)
    async def restore_training_weights(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        training_id: str,
        revision: strawberry.ID,
    ) -> TrainingResult:
        doc = await revisions.restore_training_weights(
            info.context.files, model_name, model_version, training_id, revision
        )
        return of(TrainingResult, doc)

    @strawberry.mutation(description=RESTORE)
    async def restore_strategy_file(
        self, info: Info, strategy_name: str, revision: strawberry.ID
    ) -> Strategy:
        doc = await revisions.restore_strategy_file(info.context.files, strategy_name, revision)
        return of(Strategy, doc)

    @strawberry.mutation(description=RESTORE)
    async def restore_transformation_file(
        self, info: Info, id: str, revision: strawberry.ID
    ) -> Transformation:
        doc = await revisions.restore_transformation_file(info.context.files, id, revision)
        return of(Transformation, doc)

    @strawberry.mutation(description=RESTORE)
    async def restore_service_file(self, info: Info, id: str, revision: strawberry.ID) -> Service:
        doc = await revisions.restore_service_file(info.context.files, id, revision)
        return of(Service, doc)

    @strawberry.mutation(description=RESTORE)
    async def restore_inferencer_file(
        self, info: Info, id: str, revision: strawberry.ID
    ) -> Inferencer:
        doc = await revisions.restore_inferencer_file(info.context.files, id, revision)
        return of(Inferencer, doc)

    @strawberry.mutation(description="Delete a revision and its file for good (delete scope)")
    async def purge_revision(self, info: Info, revision: strawberry.ID) -> bool:
        return await revisions.purge_revision(info.context.files, revision)


def feed_of(info: Info) -> ChangeFeed:
    feed = info.context.feed
    assert feed is not None, "the change feed runs in the app's lifespan"
    return feed


@strawberry.type
class Subscription(RunSubscription):
    @strawberry.subscription(
        description="Training results as they are created", permission_classes=[CanRead]
    )
    async def training_result_added(
        self, info: Info, model_name: str | None = None, model_version: str | None = None
    ) -> AsyncIterator[TrainingResult]:
        async for doc in events.results_added(feed_of(info), model_name, model_version):
            yield of(TrainingResult, doc)

    @strawberry.subscription(
        description="Models as they are created, updated, given a new file or deleted",
        permission_classes=[CanRead],
    )
    async def model_changed(
        self, info: Info, model_name: str | None = None
    ) -> AsyncIterator[ModelChange]:
        async for change in events.model_changes(feed_of(info), model_name):
            yield ModelChange.of(change)

    @strawberry.subscription(
        description=(
            "Every change to models, results, strategies, transformations, services and inferencers"
        ),
        permission_classes=[CanRead],
    )
    async def repository_events(
        self, info: Info, entities: list[Entity] | None = None
    ) -> AsyncIterator[RepositoryEvent]:
        collections = {entity.value for entity in (entities or list(Entity))}
        async for change in events.changes(feed_of(info), collections):
            yield RepositoryEvent.of(change)


class RepositorySchema(strawberry.Schema):
    """Errors are logged by ErrorCodes (unexpected ones only), not once more here."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        pass


@functools.lru_cache(maxsize=8)
def make_schema(limits: Limits) -> RepositorySchema:
    """The schema, refusing queries over `limits` (but for their size, checked by the view).

    One per set of limits and process: building it takes tens of milliseconds, and it holds
    nothing of one server (its caches are of query texts)."""
    return RepositorySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[ErrorCodes, lambda: CachedParser(maxsize=256), query_limits(limits)],
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
    )


schema = make_schema(Limits())
