"""The GraphQL schema: thin fields over the resolvers in `graph.resolvers`."""

import strawberry
from flrepo.graph.cache import CachedParser
from flrepo.graph.cost import CostLimits
from flrepo.graph.errors import ErrorCodes
from flrepo.graph.inputs import (
    CreateModelInput,
    CreateStrategyInput,
    CreateTrainingResultInput,
    ModelMetaInput,
    TransformationInput,
)
from flrepo.graph.resolvers import files, models, results, strategies, tokens, transformations
from flrepo.graph.types import (
    LONG_SCALAR,
    ApiToken,
    CreatedToken,
    Info,
    Long,
    Model,
    StoredFile,
    Strategy,
    TrainingResult,
    Transformation,
)
from graphql.error import GraphQLError
from strawberry.extensions import ValidationCache
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext


def page(limit: int | None) -> int:
    """A null limit means the default page size, never an unbounded listing."""
    return 100 if limit is None else limit


@strawberry.type
class Query:
    @strawberry.field(description="Models, oldest first")
    async def models(
        self,
        model_name: str | None = None,
        library: str | None = None,
        trained: bool | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[Model]:
        docs = await models.list_models(model_name, library, trained, page(limit), offset)
        return [Model.of(doc) for doc in docs]

    @strawberry.field(description="One model version; null when absent")
    async def model(self, model_name: str, model_version: str) -> Model | None:
        doc = await models.get_model(model_name, model_version)
        return Model.of(doc) if doc else None

    @strawberry.field
    async def training_results(
        self,
        model_name: str | None = None,
        model_version: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[TrainingResult]:
        docs = await results.list_results(model_name, model_version, page(limit), offset)
        return [TrainingResult.of(doc) for doc in docs]

    @strawberry.field
    async def training_result(
        self, model_name: str, model_version: str, training_id: str
    ) -> TrainingResult | None:
        doc = await results.get_result(model_name, model_version, training_id)
        return TrainingResult.of(doc) if doc else None

    @strawberry.field
    async def strategies(self, limit: int | None = 100, offset: int = 0) -> list[Strategy]:
        return [Strategy.of(doc) for doc in await strategies.list_strategies(page(limit), offset)]

    @strawberry.field
    async def strategy(self, strategy_name: str) -> Strategy | None:
        doc = await strategies.get_strategy(strategy_name)
        return Strategy.of(doc) if doc else None

    @strawberry.field
    async def transformations(
        self, limit: int | None = 100, offset: int = 0
    ) -> list[Transformation]:
        docs = await transformations.list_transformations(page(limit), offset)
        return [Transformation.of(doc) for doc in docs]

    @strawberry.field
    async def transformation(self, id: str) -> Transformation | None:
        doc = await transformations.get_transformation(id)
        return Transformation.of(doc) if doc else None

    @strawberry.field(description="Stored files, oldest upload first")
    async def files(
        self,
        info: Info,
        filename_prefix: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[StoredFile]:
        records = await files.list_files(info.context.files, filename_prefix, page(limit), offset)
        return [StoredFile.of(record, info.context.root_path) for record in records]

    @strawberry.field(description="API tokens (needs the admin scope)")
    async def tokens(self) -> list[ApiToken]:
        return [ApiToken.of(doc) for doc in await tokens.list_tokens()]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_model(self, input: CreateModelInput) -> Model:
        meta = input.meta.to_meta() if input.meta else None
        return Model.of(await models.create_model(input.model_name, input.model_version, meta))

    @strawberry.mutation
    async def update_model_meta(
        self, model_name: str, model_version: str, meta: ModelMetaInput
    ) -> Model:
        return Model.of(await models.update_model_meta(model_name, model_version, meta.to_meta()))

    @strawberry.mutation
    async def upload_model_file(
        self, info: Info, model_name: str, model_version: str, file: Upload
    ) -> Model:
        doc = await models.upload_model_file(info.context.files, model_name, model_version, file)
        return Model.of(doc)

    @strawberry.mutation
    async def delete_model(self, info: Info, model_name: str, model_version: str) -> bool:
        return await models.delete_model(info.context.files, model_name, model_version)

    @strawberry.mutation
    async def create_training_result(self, input: CreateTrainingResultInput) -> TrainingResult:
        doc = await results.create_result(
            input.model_name,
            input.model_version,
            input.training_id,
            input.configuration_id,
            input.results,
        )
        return TrainingResult.of(doc)

    @strawberry.mutation
    async def upload_training_weights(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        training_id: str,
        configuration_id: str,
        file: Upload,
    ) -> TrainingResult:
        doc = await results.upload_weights(
            info.context.files, model_name, model_version, training_id, configuration_id, file
        )
        return TrainingResult.of(doc)

    @strawberry.mutation
    async def delete_training_result(
        self, info: Info, model_name: str, model_version: str, training_id: str
    ) -> bool:
        return await results.delete_result(
            info.context.files, model_name, model_version, training_id
        )

    @strawberry.mutation
    async def create_strategy(self, input: CreateStrategyInput) -> Strategy:
        doc = await strategies.create_strategy(
            input.strategy_name, input.strategy_description, input.meta
        )
        return Strategy.of(doc)

    @strawberry.mutation
    async def update_strategy_meta(self, strategy_name: str, meta: JSON) -> Strategy:
        return Strategy.of(await strategies.update_strategy_meta(strategy_name, meta))

    @strawberry.mutation
    async def upload_strategy_file(self, info: Info, strategy_name: str, file: Upload) -> Strategy:
        doc = await strategies.upload_strategy_file(info.context.files, strategy_name, file)
        return Strategy.of(doc)

    @strawberry.mutation
    async def delete_strategy(self, info: Info, strategy_name: str) -> bool:
        return await strategies.delete_strategy(info.context.files, strategy_name)

    @strawberry.mutation
    async def create_transformation(self, input: TransformationInput) -> Transformation:
        return Transformation.of(await transformations.create_transformation(**input.to_kwargs()))

    @strawberry.mutation(description="Replaces the metadata; the stored file stays")
    async def update_transformation(self, input: TransformationInput) -> Transformation:
        return Transformation.of(await transformations.update_transformation(**input.to_kwargs()))

    @strawberry.mutation
    async def upload_transformation_file(self, info: Info, id: str, file: Upload) -> Transformation:
        doc = await transformations.upload_transformation_file(info.context.files, id, file)
        return Transformation.of(doc)

    @strawberry.mutation
    async def delete_transformation(self, info: Info, id: str) -> bool:
        return await transformations.delete_transformation(info.context.files, id)

    @strawberry.mutation(description="A new API token; its secret is shown only here (admin)")
    async def create_token(
        self, name: str, scopes: list[str], expires_days: int | None = None
    ) -> CreatedToken:
        doc, secret = await tokens.create_token(name, scopes, expires_days)
        return CreatedToken(token=ApiToken.of(doc), secret=secret)

    @strawberry.mutation(description="Delete an API token: its secret stops working (admin)")
    async def revoke_token(self, name: str) -> bool:
        return await tokens.revoke_token(name)


class RepositorySchema(strawberry.Schema):
    """Errors are logged by ErrorCodes (unexpected ones only), not once more here."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        pass


schema = RepositorySchema(
    query=Query,
    mutation=Mutation,
    # Validation (cached) runs before CostLimits, which measures only valid documents.
    extensions=[
        ErrorCodes,
        lambda: CachedParser(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        CostLimits,
    ],
    config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
)
