"""Request bodies of the original REST API, with its snake_case field names and checked names.

The original's models were pydantic 1's, which coerced what its fields declared as another
type; deployed clients rely on it, so these bodies take the same values (`"model_version": 1`
is stored as "1", `"storage": "10"` as 10.0, `"GPU": "true"` as true) and refuse what it
refused, and what cannot be stored (NaN, `$` keys).
"""

from typing import Annotated, Any

from flrepo.documents import ml_model
from flrepo.documents.transformation import MachineCapabilities
from flrepo.operations.validation import check_name, check_object, exact_names
from flrepo.transfer.lenient import AS_TEXT, Text, as_text, texts
from flrepo.transfer.validators import NAME_SCHEMA, checked
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def _as_given(value: Any, what: str) -> str:
    """A name in a path or query, checked for what no name may hold, but not normalised: the
    operation looks it up in NFC first and then as given, so that records stored before
    normalisation stay readable over REST as over GraphQL."""
    with exact_names():
        return check_name(value, what)


Name = Annotated[str, checked(_as_given, "the name"), WithJsonSchema(NAME_SCHEMA)]
Key = Annotated[  # a name in a body
    str,
    BeforeValidator(as_text),
    checked(check_name, "the name"),
    WithJsonSchema({"anyOf": [NAME_SCHEMA, *AS_TEXT]}),
]
STORABLE = "No key at any depth starts with '$' or holds a NUL; integers fit in 64 bits."
JSONObject = Annotated[
    dict[str, Any] | None, checked(check_object, "the object"), Field(description=STORABLE)
]
# A JSON object the original declared `Dict[str, str]`: its numbers are stored as text.
TextsObject = Annotated[JSONObject, BeforeValidator(texts)]


class ModelMeta(ml_model.ModelMeta):  # no docstring: the schema stays the document's
    library: Text | None = None
    description: Text | None = None


class ModelBody(BaseModel):
    model_name: Key
    model_version: Key
    meta: ModelMeta | None = None


class TrainingResultBody(BaseModel):
    model_name: Key
    model_version: Key
    training_id: Key
    configuration_id: Key | None = None
    results: TextsObject = None  # `Dict[str, Union[str, float]]`: pydantic 1 tried `str` first


class StrategyBody(BaseModel):
    strategy_name: Key
    strategy_description: Text | None = None
    meta: TextsObject = None


class StrategyMetaBody(BaseModel):
    meta: Annotated[
        dict[str, Any],
        BeforeValidator(texts),
        checked(check_object, "meta"),
        Field(description=STORABLE),
    ]


class MachineCapabilitiesBody(MachineCapabilities):
    """The stored capabilities, with keys MongoDB can store; numbers and the boolean as
    pydantic 1 read them (`"10"` is 10.0, `"true"`, `"1"` and `1` are true), never NaN."""

    model_config = ConfigDict(populate_by_name=True, allow_inf_nan=False)

    gpu: bool | None = Field(default=False, alias="GPU", description="null: false")
    preinstalled_libraries: TextsObject = None
    available_models: TextsObject = None


class TransformationBody(BaseModel):
    """A transformation document's fields, with names and keys checked."""

    transformation_id: Key = Field(alias="id")
    description: Text | None = None
    parameter_types: dict[str, Text] | None = None
    default_values: JSONObject = None
    outputs: list[Text] | None = None
    needs: MachineCapabilitiesBody | None = None
