"""Ranged, conditional and HEAD downloads on every route that serves a file; upload names."""

import base64
import hashlib
import os

import httpx
import pytest
from bson import ObjectId
from helpers import FILE_FIELDS, GraphQL

CHUNK = 255 * 1024
DATA = os.urandom(3 * CHUNK + 1000)  # four chunks, the last one short
SHA = hashlib.sha256(DATA).hexdigest()
ETAG = f'"{SHA}"'

UPLOAD = (
    'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", file: $file) '
    f"{{ file {{ {FILE_FIELDS} uploadedName }} }} }}"
)


@pytest.fixture
async def file(gql: GraphQL) -> dict:
    """A model file of four chunks, uploaded as `weights v1.h5`, as GraphQL shows it."""
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    data = await gql.upload_data(UPLOAD, {}, DATA, filename="C:\\models\\weights v1.h5")
    return data["uploadModelFile"]["file"]


def urls(file: dict) -> list[str]:
    """The GraphQL download URL and the original REST route of the same file."""
    return [file["downloadUrl"], "/model/m/1"]


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),  # first bytes
        (f"bytes={CHUNK - 10}-{2 * CHUNK + 9}", CHUNK - 10, 2 * CHUNK + 10),  # across chunks
        (f"bytes={len(DATA) - 1}-", len(DATA) - 1, len(DATA)),  # last byte
        ("bytes=-1500", len(DATA) - 1500, len(DATA)),  # suffix
        (f"bytes=100-{10 * len(DATA)}", 100, len(DATA)),  # end past the file: up to its end
        ("bytes=-99999999", 0, len(DATA)),  # suffix longer than the file: all of it
    ],
)
async def test_a_range_is_the_right_bytes(client: httpx.AsyncClient, file, header, start, stop):
    for url in urls(file):
        response = await client.get(url, headers={"Range": header})
        assert response.status_code == 206, (url, response.text)
        assert response.content == DATA[start:stop]
        assert response.headers["content-length"] == str(stop - start)
        assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(DATA)}"
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["etag"] == ETAG


@pytest.mark.parametrize(
    "header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 5}-{len(DATA) + 9}", "bytes=-0"]
)
async def test_an_unsatisfiable_range_is_416(client: httpx.AsyncClient, file, header):
    for url in urls(file):
        response = await client.get(url, headers={"Range": header})
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize(
    "header", ["bytes=5-2", "items=0-4", "bytes=0-1,5-6", "bytes=x-", "bytes=\xb2-", "bytes=-"]
)
async def test_a_range_not_understood_gets_the_whole_file(client, file, header):
    response = await client.get(file["downloadUrl"], headers={"Range": header.encode("latin-1")})
    assert response.status_code == 200
    assert response.content == DATA


async def test_if_none_match_on_the_sha256_etag_is_304(client: httpx.AsyncClient, file):
    for url in urls(file):
        for header in (ETAG, f'"other", W/{ETAG}', "*"):
            response = await client.get(url, headers={"If-None-Match": header})
            assert response.status_code == 304, (url, header)
            assert response.content == b""
            assert response.headers["etag"] == ETAG
        stale = await client.get(url, headers={"If-None-Match": '"0000"'})
        assert stale.status_code == 200
        assert stale.content == DATA


async def test_if_range_resumes_only_the_same_file(client: httpx.AsyncClient, file):
    same = await client.get(file["downloadUrl"], headers={"Range": "bytes=10-", "If-Range": ETAG})
    assert same.status_code == 206
    assert same.content == DATA[10:]
    changed = await client.get(
        file["downloadUrl"], headers={"Range": "bytes=10-", "If-Range": '"an older file"'}
    )
    assert changed.status_code == 200
    assert changed.content == DATA


async def test_head_answers_the_headers_without_the_bytes(client: httpx.AsyncClient, file):
    for url in urls(file):
        whole = await client.head(url)
        assert whole.status_code == 200, url
        assert whole.content == b""
        assert whole.headers["content-length"] == str(len(DATA))
        assert whole.headers["etag"] == ETAG
        assert whole.headers["accept-ranges"] == "bytes"
        digest = base64.b64encode(bytes.fromhex(SHA)).decode()
        assert whole.headers["repr-digest"] == f"sha-256=:{digest}:"
        part = await client.head(url, headers={"Range": "bytes=-10"})
        assert part.status_code == 206
        assert part.headers["content-length"] == "10"
        assert part.content == b""


async def test_downloads_offer_the_name_the_file_was_uploaded_as(client, file):
    assert file["uploadedName"] == "weights v1.h5"  # directories dropped
    for url in urls(file):
        response = await client.get(url)
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"weights v1.h5\"; filename*=UTF-8''weights%20v1.h5"
        )
    put = await client.put(
        "/model/m/1", files={"file": ("über.zip", b"zip bytes", "application/zip")}
    )
    assert put.status_code == 204
    response = await client.get("/model/m/1")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"_ber.zip\"; filename*=UTF-8''%C3%BCber.zip"
    )


async def test_the_weights_route_serves_raw_bytes_by_range(client: httpx.AsyncClient, gql):
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    await gql.data(
        'mutation { createTrainingResult(input: {modelName: "m", modelVersion: "1", '
        'trainingId: "t"}) { trainingId } }'
    )
    put = await client.put("/training-results/m/1/t/c", files={"file": ("w.pkl", DATA)})
    assert put.status_code == 204
    raw = {"Accept": "application/octet-stream"}
    response = await client.get(
        "/training-results/weights/m/1/t", headers={**raw, "Range": "bytes=-7"}
    )
    assert response.status_code == 206
    assert response.content == DATA[-7:]
    cached = await client.get(
        "/training-results/weights/m/1/t", headers={**raw, "If-None-Match": ETAG}
    )
    assert cached.status_code == 304


async def test_an_empty_file_has_no_satisfiable_range(client: httpx.AsyncClient, gql):
    await gql.data('mutation { createStrategy(input: {strategyName: "s"}) { strategyName } }')
    assert (await client.put("/strategy/s", files={"file": ("e", b"")})).status_code == 204
    response = await client.get("/strategy/s", headers={"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"
    assert (await client.get("/strategy/s")).content == b""


async def test_a_range_reads_only_the_chunks_it_touches(client: httpx.AsyncClient, file, grid):
    # were the first chunk read, its absence would break the answer
    await grid["fs.chunks"].delete_one({"files_id": ObjectId(file["id"]), "n": 0})
    response = await client.get(file["downloadUrl"], headers={"Range": f"bytes={2 * CHUNK}-"})
    assert response.status_code == 206
    assert response.content == DATA[2 * CHUNK :]
