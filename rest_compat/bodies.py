"""Request bodies of the original REST API, with its snake_case field names and checked names."""

from collections.abc import Callable
from typing import Annotated, Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.ml_model import ModelMeta
from flrepo.documents.transformation import MachineCapabilities
from flrepo.operations.validation import check_name, check_object
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema


def _checked(check: Callable[[Any, str], Any], what: str) -> AfterValidator:
    """`check` as a pydantic validator: its InvalidInput becomes a value error (422)."""

    def validate(value: Any) -> Any:
        try:
            return check(value, what)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(validate)


# What check_name allows: 1 to 256 characters, no '/', no control character, no leading '$'.
NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256}
NAME_SCHEMA["pattern"] = "^[^$/\\x00-\\x1f\\x7f-\\x9f][^/\\x00-\\x1f\\x7f-\\x9f]*$"
Name = Annotated[str, _checked(check_name, "the name"), WithJsonSchema(NAME_SCHEMA)]
STORABLE = "No key at any depth starts with '$' or holds a NUL; integers fit in 64 bits."
JSONObject = Annotated[
    dict[str, Any] | None, _checked(check_object, "the object"), Field(description=STORABLE)
]


class ModelBody(BaseModel):
    model_name: Name
    model_version: Name
    meta: ModelMeta | None = None


class TrainingResultBody(BaseModel):
    model_name: Name
    model_version: Name
    training_id: Name
    configuration_id: Name | None = None
    results: JSONObject = None


class StrategyBody(BaseModel):
    strategy_name: Name
    strategy_description: str | None = None
    meta: JSONObject = None


class StrategyMetaBody(BaseModel):
    meta: Annotated[dict[str, Any], _checked(check_object, "meta"), Field(description=STORABLE)]


class MachineCapabilitiesBody(MachineCapabilities):
    """The stored capabilities, with keys MongoDB can store; numbers and the boolean as
    the document says them (strict: `false` is no storage size, `"10"` no number)."""

    model_config = ConfigDict(strict=True, populate_by_name=True)

    gpu: bool | None = Field(default=False, alias="GPU", description="null: false")
    preinstalled_libraries: JSONObject = None
    available_models: JSONObject = None


class TransformationBody(BaseModel):
    """A transformation document's fields, with names and keys checked."""

    transformation_id: Name = Field(alias="id")
    description: str | None = None
    parameter_types: dict[str, str] | None = None
    default_values: JSONObject = None
    outputs: list[str] | None = None
    needs: MachineCapabilitiesBody | None = None
