"""Numbers in headers and parameters are read with a bound: long ones get a 4xx, never a 500
(Python refuses to convert strings of over 4,300 digits), and no traceback is logged.
tus asks for a token with 401 and WWW-Authenticate."""

import base64
import logging

import httpx
import pytest
from helpers import GraphQL, running_app
from pydantic import SecretStr

from flrepo.settings import Settings

TUS = {"Tus-Resumable": "1.0.0"}
HUGE = ["9" * 20, "1" + "0" * 4300, "7" * 5000, "1" * 100_000]


def metadata(name: str) -> str:
    pairs = {"kind": "model", "model_name": name, "model_version": "1", "filename": "w.h5"}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


@pytest.fixture
async def file_url(gql: GraphQL) -> str:
    await gql.data(
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
    )
    upload = (
        'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", '
        "file: $file) { file { downloadUrl } } }"
    )
    data = await gql.upload_data(upload, {}, b"0123456789")
    return data["uploadModelFile"]["file"]["downloadUrl"]


@pytest.mark.parametrize("number", HUGE, ids=lambda n: f"{len(n)} digits")
async def test_long_range_numbers_are_answered_as_rfc_9110_says(
    client: httpx.AsyncClient, file_url: str, number: str, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    cases = {
        f"bytes={number}-": (416, None),  # first byte past the end
        f"bytes={number}-{number}": (416, None),
        f"bytes=2-{number}": (206, b"23456789"),  # last byte past the end: up to the end
        f"bytes=-{number}": (206, b"0123456789"),  # suffix longer than the file
        f"bytes={number}-3": (200, b"0123456789"),  # last before first: ignored
    }
    for url in (file_url, "/model/m/1"):
        for header, (status, body) in cases.items():
            response = await client.get(url, headers={"Range": header})
            assert response.status_code == status, (header[:40], response.status_code)
            if body is not None:
                assert response.content == body, header[:40]
            if status == 416:
                assert response.headers["content-range"] == "bytes */10"
    assert not [r for r in caplog.records if r.exc_info], caplog.text[:2000]


NOT_NUMBERS = ["\uff11\uff12".encode(), b"\xb2", b"-1", b"1e3", b"0x10", b"", b"+5"]


@pytest.mark.parametrize("number", [*(n.encode() for n in HUGE), *NOT_NUMBERS])
async def test_tus_numbers_out_of_bounds_are_400(
    client: httpx.AsyncClient, gql: GraphQL, number: bytes, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    await gql.data(
        'mutation { createModel(input: {modelName: "t", modelVersion: "1"}) { modelName } }'
    )
    created = await client.post(
        "/uploads/", headers={**TUS, "Upload-Length": number, "Upload-Metadata": metadata("t")}
    )
    assert created.status_code == 400, created.text
    assert "Upload-Length".lower() in created.json()["detail"].lower()
    created = await client.post(
        "/uploads/", headers={**TUS, "Upload-Length": "4", "Upload-Metadata": metadata("t")}
    )
    assert created.status_code == 201, created.text
    patched = await client.patch(
        created.headers["location"],
        headers={
            **TUS,
            "Upload-Offset": number,
            "Content-Type": "application/offset+octet-stream",
        },
        content=b"abcd",
    )
    assert patched.status_code == 400, patched.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text[:2000]


@pytest.mark.parametrize("number", HUGE[:3], ids=lambda n: f"{len(n)} digits")
async def test_long_page_numbers_and_lengths_are_client_errors(
    client: httpx.AsyncClient, number: str, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    for query in (
        f"{{ models(limit: {number}) {{ modelName }} }}",
        f"{{ models(offset: {number}) {{ modelName }} }}",
    ):
        response = await client.post("/graphql", json={"query": query})
        assert response.status_code in (200, 400), response.text
        errors = response.json()["errors"]
        assert errors and "Traceback" not in response.text, response.text
    body = b'{"query": "{ models { modelName } }"}'
    response = await client.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": number},
    )
    assert 400 <= response.status_code < 500, response.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text[:2000]


async def test_tus_asks_for_a_token_with_401(settings: Settings, mongodb_url: str) -> None:
    admin = "an-admin-secret-of-some-length"
    changed = settings.model_copy(
        update={"anonymous_scopes": "read", "admin_token": SecretStr(admin)}
    )
    async with running_app(changed, mongodb_url) as client:
        headers = {**TUS, "Upload-Length": "4", "Upload-Metadata": metadata("m")}
        for auth in ({}, {"Authorization": "Bearer flr_unknown"}, {"Authorization": "Basic x"}):
            response = await client.post("/uploads/", headers={**headers, **auth})
            assert response.status_code == 401, (auth, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["tus-resumable"] == "1.0.0"
        made = await client.post(
            "/graphql",
            json={"query": 'mutation { createToken(name: "r", scopes: ["read"]) { secret } }'},
            headers={"Authorization": f"Bearer {admin}"},
        )
        reader = made.json()["data"]["createToken"]["secret"]
        response = await client.post(
            "/uploads/", headers={**headers, "Authorization": f"Bearer {reader}"}
        )
        assert response.status_code == 403, response.text
        assert "www-authenticate" not in response.headers
