"""The six kinds of document that own a file, as the revision tests drive them in process:
how to create one, upload its file over REST, read it and its revisions over GraphQL, and
restore a revision."""

from dataclasses import dataclass
from typing import Any

import httpx

REVISION_FIELDS = "id replacedAt replacedBy file { id sha256 length }"


@dataclass(frozen=True)
class Kind:
    name: str
    collection: str
    file_field: str
    create_path: str
    body: dict[str, Any]
    upload_path: str
    get: str  # a GraphQL query field with its arguments, answering the document
    args: str  # the key arguments of the restore mutation
    restore: str  # the restore mutation's name
    keys: str  # the key fields of its GraphQL type
    files: str  # its file field in GraphQL

    def query(self, fields: str) -> str:
        return f"{{ doc: {self.get} {{ {fields} }} }}"

    def restore_mutation(self, fields: str) -> str:
        return (
            f"mutation($r: ID!) {{ doc: {self.restore}({self.args}, revision: $r) {{ {fields} }} }}"
        )

    async def create(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None):
        response = await client.post(self.create_path, json=self.body, headers=headers or {})
        assert response.status_code == 201, response.text

    async def upload(
        self, client: httpx.AsyncClient, data: bytes, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        files = {"file": ("f.bin", data, "application/octet-stream")}
        return await client.put(self.upload_path, files=files, headers=headers or {})


KINDS = {
    "model": Kind(
        "model",
        "models",
        "model_id",
        "/model",
        {"model_name": "m", "model_version": "1"},
        "/model/m/1",
        'model(modelName: "m", modelVersion: "1")',
        'modelName: "m", modelVersion: "1"',
        "restoreModelFile",
        "modelName modelVersion",
        "file",
    ),
    "weights": Kind(
        "weights",
        "results",
        "weights_id",
        "/training-results",
        {"model_name": "m", "model_version": "1", "training_id": "t", "configuration_id": "c"},
        "/training-results/m/1/t/c",
        'trainingResult(modelName: "m", modelVersion: "1", trainingId: "t")',
        'modelName: "m", modelVersion: "1", trainingId: "t"',
        "restoreTrainingWeights",
        "modelName modelVersion trainingId",
        "weights",
    ),
    "strategy": Kind(
        "strategy",
        "strategies",
        "strategy_id",
        "/strategy",
        {"strategy_name": "s"},
        "/strategy/s",
        'strategy(strategyName: "s")',
        'strategyName: "s"',
        "restoreStrategyFile",
        "strategyName",
        "file",
    ),
    "transformation": Kind(
        "transformation",
        "transformations",
        "storage_id",
        "/transformation",
        {"id": "x"},
        "/transformation/x",
        'transformation(id: "x")',
        'id: "x"',
        "restoreTransformationFile",
        "id",
        "file",
    ),
    "service": Kind(
        "service",
        "services",
        "storage_id",
        "/service",
        {"id": "v"},
        "/service/v",
        'service(id: "v")',
        'id: "v"',
        "restoreServiceFile",
        "id",
        "file",
    ),
    "inferencer": Kind(
        "inferencer",
        "inferencers",
        "storage_id",
        "/inferencer",
        {"id": "i"},
        "/inferencer/i",
        'inferencer(id: "i")',
        'id: "i"',
        "restoreInferencerFile",
        "id",
        "file",
    ),
}
