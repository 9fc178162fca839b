"""GraphQL input types (docs/API.md §2), derived from the documents they fill in."""

import enum

import strawberry
from flrepo.documents import inference, ml_model, strategy, training_result, transformation
from strawberry.experimental import pydantic
from strawberry.scalars import JSON


@pydantic.input(model=ml_model.ModelMeta, all_fields=True)
class ModelMetaInput:
    pass


@pydantic.input(model=ml_model.MLModel, use_pydantic_alias=False)
class CreateModelInput:
    model_name: strawberry.auto
    model_version: strawberry.auto
    meta: ModelMetaInput | None = None


@pydantic.input(model=training_result.TrainingResult, use_pydantic_alias=False)
class CreateTrainingResultInput:
    model_name: strawberry.auto
    model_version: strawberry.auto
    training_id: strawberry.auto
    configuration_id: strawberry.auto
    results: JSON | None = None


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="Rank by one metric of `results`, numerically; non-numbers last")
class ResultOrder:
    metric: str = strawberry.field(description="A key of `results`, e.g. accuracy")
    direction: SortDirection = SortDirection.DESC


@pydantic.input(model=strategy.Strategy, use_pydantic_alias=False)
class CreateStrategyInput:
    strategy_name: strawberry.auto
    strategy_description: strawberry.auto
    meta: JSON | None = None


@pydantic.input(model=transformation.MachineCapabilities, all_fields=True, use_pydantic_alias=False)
class MachineCapabilitiesInput:
    gpu: bool | None = False
    preinstalled_libraries: JSON | None = None
    available_models: JSON | None = None


@pydantic.input(model=transformation.Transformation, use_pydantic_alias=False)
class TransformationInput:
    transformation_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    parameter_types: JSON | None = None
    default_values: JSON | None = None
    outputs: strawberry.auto
    needs: MachineCapabilitiesInput | None = None


@pydantic.input(model=inference.Service, use_pydantic_alias=False)
class ServiceInput:
    service_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    needs: MachineCapabilitiesInput | None = None


@pydantic.input(model=inference.Inferencer, use_pydantic_alias=False)
class InferencerInput:
    inferencer_id: strawberry.auto = strawberry.field(name="id")
    description: strawberry.auto
    library: strawberry.auto
    needs: MachineCapabilitiesInput | None = None
    use_cuda: bool | None = False
