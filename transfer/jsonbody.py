"""Strict JSON for request bodies: no NaN or Infinity, and no nesting deep enough to crash."""

import json
from typing import Any


class JSONBodyError(ValueError):
    """The body is not JSON this server accepts; the message says why, in terms of the input."""


def _refuse_constant(name: str) -> Any:
    raise JSONBodyError(f"{name} is not a JSON number")


def loads(data: str | bytes) -> Any:
    """Parse `data` as standard JSON (RFC 8259); JSONBodyError if it is not."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except JSONBodyError:
        raise
    except RecursionError:
        raise JSONBodyError("the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise JSONBodyError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JSONBodyError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError:  # e.g. an integer of more digits than Python converts
        raise JSONBodyError("the JSON holds a number too long to read") from None
