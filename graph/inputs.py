"""GraphQL input types (API.md §2) and their conversion to document parts."""

import enum

import strawberry
from flrepo.documents.ml_model import ModelMeta
from flrepo.documents.transformation import MachineCapabilities
from strawberry.scalars import JSON


@strawberry.input
class ModelMetaInput:
    library: str | None = None
    description: str | None = None

    def to_meta(self) -> ModelMeta:
        return ModelMeta(library=self.library, description=self.description)


@strawberry.input
class CreateModelInput:
    model_name: str
    model_version: str
    meta: ModelMetaInput | None = None


@strawberry.input
class CreateTrainingResultInput:
    model_name: str
    model_version: str
    training_id: str
    configuration_id: str | None = None
    results: JSON | None = None


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="Rank by one metric of `results`, numerically; non-numbers last")
class ResultOrder:
    metric: str = strawberry.field(description="A key of `results`, e.g. accuracy")
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class CreateStrategyInput:
    strategy_name: str
    strategy_description: str | None = None
    meta: JSON | None = None


@strawberry.input
class MachineCapabilitiesInput:
    storage: float | None = None
    ram: float | None = None
    gpu: bool | None = False
    preinstalled_libraries: JSON | None = None
    available_models: JSON | None = None

    def to_capabilities(self) -> MachineCapabilities:
        return MachineCapabilities(
            storage=self.storage,
            ram=self.ram,
            gpu=bool(self.gpu),
            preinstalled_libraries=self.preinstalled_libraries,
            available_models=self.available_models,
        )


@strawberry.input
class TransformationInput:
    id: str
    description: str | None = None
    parameter_types: JSON | None = None
    default_values: JSON | None = None
    outputs: list[str] | None = None
    needs: MachineCapabilitiesInput | None = None

    def to_kwargs(self) -> dict:
        """Keyword arguments of the transformation resolvers."""
        return {
            "transformation_id": self.id,
            "description": self.description,
            "parameter_types": self.parameter_types,
            "default_values": self.default_values,
            "outputs": self.outputs,
            "needs": self.needs.to_capabilities() if self.needs else None,
        }
