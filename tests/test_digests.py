"""A client's expected sha256 (RFC 9530 headers on PUT, `sha256` in GraphQL): checked."""

import base64
import hashlib

import httpx
import pytest
from helpers import GraphQL, grid_counts

OLD, NEW = b"the old model", b"the new model"


def field(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@pytest.fixture
async def model(gql: GraphQL, client: httpx.AsyncClient) -> None:
    """Model m/1 holding OLD."""
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    assert (await client.put("/model/m/1", files={"file": ("a", OLD)})).status_code == 204


@pytest.mark.parametrize("header", ["Repr-Digest", "Content-Digest"])
async def test_put_with_a_wrong_digest_is_refused_and_the_old_file_kept(
    client: httpx.AsyncClient, grid, model, header
):
    before = await grid_counts(grid)
    response = await client.put(
        "/model/m/1", files={"file": ("b", NEW)}, headers={header: field(b"something else")}
    )
    assert response.status_code == 422
    assert "sha256" in response.json()["detail"][0]["msg"]
    assert (await client.get("/model/m/1")).content == OLD
    assert await grid_counts(grid) == before


async def test_put_with_the_right_digest_replaces_the_file(client: httpx.AsyncClient, model):
    headers = {"Repr-Digest": f"sha-512=:AAAA:, {field(NEW)}"}
    response = await client.put("/model/m/1", files={"file": ("b", NEW)}, headers=headers)
    assert response.status_code == 204
    assert (await client.get("/model/m/1")).content == NEW


@pytest.mark.parametrize(
    "value",
    ["sha-256=abc", "sha-256=:not base64!:", f"sha-256=:{base64.b64encode(b'short').decode()}:"],
)
async def test_a_malformed_digest_is_refused_before_the_upload(client, model, value):
    response = await client.put(
        "/model/m/1", files={"file": ("b", NEW)}, headers={"Repr-Digest": value}
    )
    assert response.status_code == 422
    assert (await client.get("/model/m/1")).content == OLD


UPLOAD = (
    'mutation($file: Upload!, $sha: String) { uploadModelFile(modelName: "m", modelVersion: "1", '
    "file: $file, sha256: $sha) { file { sha256 } } }"
)


async def test_graphql_upload_with_a_wrong_sha256_is_refused(gql: GraphQL, client, grid, model):
    before = await grid_counts(grid)
    for wrong in (hashlib.sha256(b"x").hexdigest(), "not hex"):
        body = await gql.upload(UPLOAD, {"sha": wrong}, NEW)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
        assert body["data"] is None
    assert (await client.get("/model/m/1")).content == OLD
    assert await grid_counts(grid) == before


async def test_graphql_upload_with_the_right_sha256_is_stored(gql: GraphQL, client, model):
    expected = hashlib.sha256(NEW).hexdigest()
    data = await gql.upload_data(UPLOAD, {"sha": expected.upper()}, NEW)
    assert data["uploadModelFile"]["file"]["sha256"] == expected
    assert (await client.get("/model/m/1")).content == NEW
