"""Exchanges recorded with the original service (tests/tools/record_original.py), replayed.

Each recorded request is sent to ours in the recorded order, on fresh databases; the status,
the content type and the body must be the original's, except where docs/API.md ("Differences
from the original") lists a difference: those are named below, each with what ours answers.
"""

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

RECORDINGS = Path(__file__).parent / "data" / "original"
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?$")

# Ours answers 404 where the original failed on a missing document (500).
NOT_FOUND = "404 instead of the original's 500 for a missing id"
# The original could not store `needs` on a metadata update (500, nothing changed).
META_UPDATE = "metadata updates with `needs` work (the original answered 500)"
# Every file download carries a type; the original's had none but for strategies.
FILE_TYPE = "file downloads are application/octet-stream (the original sent no type)"
# Errors other than 422 say what was wrong in words of their own, naming the document.
DETAIL = "the detail of an error names the document it is about"
# Listed file documents also carry their sha256 and pickle scan.
FILE_FIELDS = "file documents list sha256 and safety besides the original's fields"

# name of an exchange: (the difference, the status ours answers)
DIFFERENCES: dict[str, tuple[str, int]] = {
    "missing model file": (NOT_FOUND, 404),
    "missing weights": (NOT_FOUND, 404),
    "transformation meta replaced": (META_UPDATE, 204),
    "transformations listed again": (META_UPDATE, 200),
    "service meta replaced": (META_UPDATE, 204),
    "services listed again": (META_UPDATE, 200),
    "newest weights file": (FILE_FIELDS, 200),
}
FILE_DOWNLOADS = {
    "model file downloaded",
    "transformation object downloaded",
    "inferencer object downloaded",
}


def recorded(variant: str) -> list[dict[str, Any]]:
    return json.loads((RECORDINGS / f"{variant}.json").read_text())["exchanges"]


def plain(value: Any) -> Any:
    """`value` with what differs between runs (object ids, upload dates) replaced by markers."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str) and OBJECT_ID.match(value):
        return "<object id>"
    if isinstance(value, str) and DATE.match(value):
        return "<date>"
    return value


async def send(client: httpx.AsyncClient, step: dict[str, Any]) -> httpx.Response:
    if "file" in step:
        files = {"file": ("upload.bin", base64.b64decode(step["file"]), "application/octet-stream")}
        return await client.request(step["method"], step["path"], files=files)
    if "json" in step:
        return await client.request(step["method"], step["path"], json=step["json"])
    return await client.request(step["method"], step["path"])


def body_of(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("application/json"):
        return {"json": plain(response.json())}
    try:
        return {"text": response.content.decode()}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(response.content).decode()}


def expected_body(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: plain(answer[key]) for key in ("json", "text", "base64") if key in answer}


def mismatch(step: dict[str, Any], response: httpx.Response) -> str | None:
    """What differs between the original's answer and ours, beyond the named differences."""
    original = step["response"]
    name = step["name"]
    if name in DIFFERENCES:
        status = DIFFERENCES[name][1]
        return None if response.status_code == status else f"{name}: {response.status_code}"
    if response.status_code != original["status"]:
        return f"{name}: status {response.status_code}, the original {original['status']}"
    if response.status_code == 422:  # FastAPI's error list: same place, today's wording
        where = [error["loc"] for error in response.json()["detail"]]
        return None if where[:1] == [e["loc"] for e in original["json"]["detail"]] else name
    if response.status_code >= 400:  # {"detail": "..."} as JSON, the words differ: DETAIL
        same = isinstance(response.json()["detail"], str) and original["json"]["detail"]
        return (
            None if same and response.headers["content-type"] == original["content_type"] else name
        )
    content_type = response.headers.get("content-type")
    if name in FILE_DOWNLOADS:
        assert content_type == "application/octet-stream", FILE_TYPE
    elif content_type != original["content_type"]:
        return f"{name}: content type {content_type!r}, the original {original['content_type']!r}"
    if body_of(response) != expected_body(original):
        return f"{name}: body {body_of(response)}, the original {expected_body(original)}"
    return None


@pytest.mark.parametrize("variant", ["fl", "inference"])
async def test_ours_answers_as_the_original(client: httpx.AsyncClient, variant: str):
    found = [mismatch(step, await send(client, step)) for step in recorded(variant)]
    assert [problem for problem in found if problem] == []


async def test_the_named_differences_are_real(client: httpx.AsyncClient):
    """Each named difference shows in the recording: none is an exception for nothing."""
    steps = {step["name"]: step for variant in ("fl", "inference") for step in recorded(variant)}
    assert set(DIFFERENCES) | FILE_DOWNLOADS <= set(steps)
    for name, (reason, status) in DIFFERENCES.items():
        original = steps[name]["response"]
        assert original["status"] != status or reason in (FILE_FIELDS, META_UPDATE)
    assert all(steps[name]["response"]["content_type"] is None for name in FILE_DOWNLOADS)
    # pydantic 1 tried `str` first in `Dict[str, Union[str, float]]`: metrics became text,
    # and ours stores them so too (test_compat_lenient.py)
    metrics = steps["results listed"]["response"]["json"][0]["results"]
    assert metrics == {"accuracy": "0.93", "loss": "0.1", "rounds": "3"}
