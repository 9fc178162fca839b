"""The checks of the operations as pydantic validators, and the JSON schema of a name."""

from collections.abc import Callable
from typing import Any

from flrepo.documents.errors import InvalidInput
from pydantic import AfterValidator

# What check_name allows: 1 to 256 characters, no '/', no control character, no leading '$'.
NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 256}
NAME_SCHEMA["pattern"] = "^[^$/\\x00-\\x1f\\x7f-\\x9f][^/\\x00-\\x1f\\x7f-\\x9f]*$"


def checked(check: Callable[[Any, str], Any], what: str) -> AfterValidator:
    """`check` as a pydantic validator: its InvalidInput becomes a value error (422)."""

    def validate(value: Any) -> Any:
        try:
            return check(value, what)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    return AfterValidator(validate)
