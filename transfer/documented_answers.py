"""How the FastAPI routes document their answers in OpenAPI: error bodies and raw files."""

from typing import Any

from pydantic import BaseModel


class Message(BaseModel):
    """FastAPI's error body for anything but invalid input."""

    detail: str


REASONS = {
    400: "Already exists, or a body that is not UTF-8",
    404: "Not found",
    413: "File too large",
    415: "The body is not declared as JSON",
}
RAW = {200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route (FastAPI adds 422 where it validates input)."""
    return {status: {"model": Message, "description": REASONS[status]} for status in statuses}
