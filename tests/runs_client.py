"""Training runs through the GraphQL API: starting a run and recording rounds (multipart with
the weights and, optionally, the aggregator state), as an aggregator would."""

import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
from helpers import FilePart, GraphQL, multipart_chunks

ROUND_FIELDS = """number metrics weightsSha256 weightsLength aggregatorStateSha256 recordedBy
  participantCount participants { clientId numExamples metrics updateSha256 }
  weights { id sha256 length downloadUrl } aggregatorState { id sha256 length }"""

RECORD = f"""
mutation($name: String!, $version: String!, $training: String!, $number: Int!,
         $metrics: JSON, $participants: [ParticipantInput!], $weights: Upload!,
         $state: Upload) {{
  recordRound(modelName: $name, modelVersion: $version, trainingId: $training, number: $number,
              metrics: $metrics, participants: $participants, weights: $weights,
              aggregatorState: $state) {{ {ROUND_FIELDS} }}
}}"""

START = """
mutation($name: String!, $version: String!, $training: String!, $strategy: String,
         $transformations: [String!], $objective: ObjectiveInput) {
  startTrainingRun(modelName: $name, modelVersion: $version, trainingId: $training,
                   strategyName: $strategy, transformationIds: $transformations,
                   objective: $objective) {
    modelName trainingId strategyName transformationIds objective { metric direction }
  }
}"""

CHECKPOINT = f"""
query($name: String!, $version: String!, $training: String!) {{
  latestCheckpoint(modelName: $name, modelVersion: $version, trainingId: $training) {{
    {ROUND_FIELDS}
  }}
}}"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes (no pickle: `allow_pickle=False` on both sides)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def participant(client_id: str, examples: int, update: bytes, **metrics: float) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "numExamples": examples,
        "updateSha256": sha256(update),
        "metrics": metrics or None,
    }


async def record_round(
    client: httpx.AsyncClient,
    key: tuple[str, str, str],
    number: int,
    weights: bytes,
    state: bytes | None = None,
    metrics: dict[str, Any] | None = None,
    participants: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole JSON reply to a recordRound request."""
    name, version, training = key
    variables = {"name": name, "version": version, "training": training, "number": number}
    variables |= {"metrics": metrics, "participants": participants, "weights": None}
    files_map = {"w": ["variables.weights"]}
    parts = [FilePart("w", "weights.npy", "application/octet-stream", [weights])]
    if state is not None:
        variables["state"] = None
        files_map["s"] = ["variables.state"]
        parts.append(FilePart("s", "state.npy", "application/octet-stream", [state]))
    boundary = "runs-" + uuid.uuid4().hex
    body = multipart_chunks({"query": RECORD, "variables": variables}, files_map, parts, boundary)

    async def stream() -> AsyncIterator[bytes]:
        for chunk in body:
            yield chunk

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await client.post("/graphql", content=stream(), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def start_run(gql: GraphQL, key: tuple[str, str, str], **more: Any) -> dict[str, Any]:
    name, version, training = key
    found = await gql.data(START, name=name, version=version, training=training, **more)
    return found["startTrainingRun"]


async def create_model(gql: GraphQL, name: str, version: str, data: bytes) -> None:
    """A model version with a model file."""
    await gql.data(
        "mutation($n: String!, $v: String!) { createModel(input: {modelName: $n, "
        "modelVersion: $v}) { modelName } }",
        n=name,
        v=version,
    )
    query = (
        "mutation($n: String!, $v: String!, $file: Upload!) { uploadModelFile(modelName: $n, "
        "modelVersion: $v, file: $file) { modelName } }"
    )
    await gql.upload_data(query, {"n": name, "v": version}, data)
