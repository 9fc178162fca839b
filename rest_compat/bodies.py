"""Request bodies of the original REST API, with its snake_case field names."""

from typing import Annotated, Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.ml_model import ModelMeta
from flrepo.graph.validation import check_name, check_object
from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _name(value: str) -> str:
    try:
        return check_name(value, "the name")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        return check_object(value, "the object")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


Name = Annotated[str, AfterValidator(_name)]
JSONObject = Annotated[dict[str, Any] | None, AfterValidator(_object)]


class Body(BaseModel):
    model_config = ConfigDict(strict=False, protected_namespaces=(), extra="ignore")


class ModelMetaBody(Body):
    library: str | None = None
    description: str | None = None

    def to_meta(self) -> ModelMeta:
        return ModelMeta(library=self.library, description=self.description)


class ModelBody(Body):
    model_name: Name
    model_version: Name
    meta: ModelMetaBody | None = None


class TrainingResultBody(Body):
    model_name: Name
    model_version: Name
    training_id: Name
    configuration_id: Name | None = None
    results: JSONObject = None


class StrategyBody(Body):
    strategy_name: Name
    strategy_description: str | None = None
    meta: JSONObject = None


class StrategyMetaBody(Body):
    meta: Annotated[dict[str, Any], AfterValidator(_object)]


class MachineCapabilitiesBody(Body):
    model_config = ConfigDict(populate_by_name=True)

    storage: float | None = None
    ram: float | None = Field(default=None, alias="RAM")
    gpu: bool = Field(default=False, alias="GPU")
    preinstalled_libraries: JSONObject = None
    available_models: JSONObject = None


class TransformationBody(Body):
    id: Name
    description: str | None = None
    parameter_types: dict[str, str] | None = None
    default_values: JSONObject = None
    outputs: list[str] | None = None
    needs: MachineCapabilitiesBody | None = None
