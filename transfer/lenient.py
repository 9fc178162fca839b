"""pydantic 1's coercions to text, for request bodies that must take what it took.

pydantic 2 has `coerce_numbers_to_str`, but it refuses booleans, which pydantic 1 turned into
"True" and "False"; these validators do as pydantic 1 did, within what can be stored.
"""

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

LIMIT = 2**63  # numbers beyond 64 bits are refused, as text too: no client means them


def as_text(value: Any) -> Any:
    """pydantic 1's `str`: a number or boolean becomes its Python text ("1", "0.5", "True")."""
    if not isinstance(value, int | float):
        return value
    if not (math.isfinite(value) and -LIMIT <= value < LIMIT):
        raise ValueError("a string, or a finite number within 64 bits, is expected")
    return str(value)


def texts(value: Any) -> Any:
    """pydantic 1's `Dict[str, str]`: each number or boolean value becomes its text (values
    of other types are left for the field to check)."""
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    return value


# In a body, a string; or a number or boolean, stored as its text.
AS_TEXT = [{"type": "number", "minimum": -LIMIT, "exclusiveMaximum": LIMIT}, {"type": "boolean"}]
Text = Annotated[
    str, BeforeValidator(as_text), WithJsonSchema({"anyOf": [{"type": "string"}, *AS_TEXT]})
]
