"""Signed uploads through every face: REST (both field orders), GraphQL, tus and the
follow-up PUT; the `require` policy; X-Signature-State and the bundle route."""

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from flrepo.signing.keys import read_key
from flrepo.signing.states import SignatureState
from helpers import FilePart, GraphQL, grid_counts, multipart_chunks, running_app
from pymongo.asynchronous.database import AsyncDatabase
from signers import KeySigner

DATA = b"\x80\x04K\x01." + b"model weights " * 5000
TUS = {"Tus-Resumable": "1.0.0"}
SIGNATURE = "signature { state signer signedAt detail bundleUrl }"
STRATEGY = (
    f"query($name: String!) {{ strategy(strategyName: $name) {{ file {{ id {SIGNATURE} }} }} }}"
)
UPLOAD = (
    "mutation($name: String!, $file: Upload!, $signature: Upload) { uploadStrategyFile("
    f"strategyName: $name, file: $file, signature: $signature) {{ file {{ id {SIGNATURE} }} }} }}"
)


@pytest.fixture(scope="module")
def alice() -> KeySigner:
    return KeySigner.new()


@pytest.fixture(scope="module")
def signed(alice: KeySigner) -> bytes:
    return alice.sign(DATA)


async def trust(db: AsyncDatabase, name: str, pem: bytes) -> None:
    """A trusted key, written as `flrepo keys add` writes it."""
    key = read_key(name, pem)
    await db["signing_keys"].insert_one(
        {
            "name": name,
            "kind": key.kind,
            "pem": key.pem.decode(),
            "fingerprint": key.fingerprint,
            "subject": key.subject,
            "added": datetime.now(UTC),
        }
    )


@pytest.fixture
async def reporting(settings, mongodb_url, db, alice) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings, mongodb_url) as client:
        await trust(db, "alice", alice.public_pem)
        yield client


@pytest.fixture
async def requiring(settings, mongodb_url, db, alice) -> AsyncIterator[httpx.AsyncClient]:
    strict = settings.model_copy(update={"signature_policy": "require"})
    async with running_app(strict, mongodb_url) as client:
        await trust(db, "alice", alice.public_pem)
        yield client


async def new_strategy(client: httpx.AsyncClient) -> str:
    name = f"s{uuid.uuid4().hex[:8]}"
    response = await client.post("/strategy", json={"strategy_name": name})
    assert response.status_code == 201, response.text
    return name


async def rest_put(
    client: httpx.AsyncClient, name: str, data: bytes, bundle: bytes | None, first: bool = False
) -> httpx.Response:
    file = ("file", ("model.bin", data, "application/octet-stream"))
    parts = [file]
    if bundle is not None:
        signature = ("signature", ("model.sig", bundle, "application/json"))
        parts = [signature, file] if first else [file, signature]
    return await client.put(f"/strategy/{name}", files=parts)


async def stored_file(client: httpx.AsyncClient, name: str) -> dict:
    return (await GraphQL(client).data(STRATEGY, name=name))["strategy"]["file"]


@pytest.mark.parametrize("first", [False, True], ids=["bundle-after-file", "bundle-first"])
async def test_a_rest_upload_with_its_bundle_reads_verified(reporting, signed, first):
    name = await new_strategy(reporting)
    response = await rest_put(reporting, name, DATA, signed, first=first)
    assert response.status_code == 204, response.text
    stored = await stored_file(reporting, name)
    signature = stored["signature"]
    assert signature["state"] == "VERIFIED"
    assert signature["signer"] == "alice"
    assert signature["signedAt"] and signature["detail"] is None
    assert signature["bundleUrl"] == f"/files/{stored['id']}/signature"

    download = await reporting.get(f"/strategy/{name}")
    assert download.content == DATA
    assert download.headers["x-signature-state"] == "VERIFIED"
    assert download.headers["x-pickle-safety"]
    raw = await reporting.get(f"/files/{stored['id']}")
    assert raw.headers["x-signature-state"] == "VERIFIED"
    head = await reporting.head(f"/files/{stored['id']}")
    assert head.headers["x-signature-state"] == "VERIFIED"
    bundle = await reporting.get(signature["bundleUrl"])
    assert bundle.status_code == 200
    assert bundle.content == signed
    assert bundle.headers["content-type"] == "application/json"


async def test_states_of_changed_bytes_strangers_malformed_and_no_bundle(reporting, signed):
    cases = {
        "INVALID": (b"X" + DATA[1:], signed),
        "UNTRUSTED": (DATA, KeySigner.new().sign(DATA)),
        "UNSIGNED": (DATA, None),
    }
    for state, (data, bundle) in cases.items():
        name = await new_strategy(reporting)
        assert (await rest_put(reporting, name, data, bundle)).status_code == 204
        stored = await stored_file(reporting, name)
        assert stored["signature"]["state"] == state
        download = await reporting.get(f"/strategy/{name}")
        assert download.headers["x-signature-state"] == state
        assert download.content == data
    assert stored["signature"] == {
        "state": "UNSIGNED",
        "signer": None,
        "signedAt": None,
        "detail": None,
        "bundleUrl": None,
    }
    missing = await reporting.get(f"/files/{stored['id']}/signature")
    assert missing.status_code == 404

    for malformed in (b"{not json", b"", json.dumps({"mediaType": 1}).encode()):
        name = await new_strategy(reporting)
        assert (await rest_put(reporting, name, DATA, malformed, first=True)).status_code == 204
        signature = (await stored_file(reporting, name))["signature"]
        assert signature["state"] == "INVALID" and signature["detail"]


async def test_an_oversized_bundle_is_refused_and_nothing_stored(reporting, grid):
    name = await new_strategy(reporting)
    before = await grid_counts(grid)
    for first in (True, False):
        response = await rest_put(reporting, name, DATA, b"{" + b" " * 40_000, first=first)
        assert 400 <= response.status_code < 500, response.text
    assert await grid_counts(grid) == before


async def test_the_weights_download_route_says_the_state_too(reporting, signed):
    model = {"model_name": f"m{uuid.uuid4().hex[:6]}", "model_version": "1"}
    assert (await reporting.post("/model", json=model)).status_code == 201
    result = {**model, "training_id": "t", "configuration_id": "c", "results": {}}
    assert (await reporting.post("/training-results", json=result)).status_code in (200, 201)
    path = f"/training-results/{model['model_name']}/1/t/c"
    files = [("file", ("w.bin", DATA)), ("signature", ("w.sig", signed))]
    assert (await reporting.put(path, files=files)).status_code == 204
    weights = await reporting.get(f"/training-results/weights/{model['model_name']}/1/t")
    assert weights.status_code == 200
    assert weights.headers["x-signature-state"] == "VERIFIED"


async def graphql_upload(
    client: httpx.AsyncClient, name: str, data: bytes, bundle: bytes | None, first: bool = False
) -> dict:
    boundary = "b" + uuid.uuid4().hex
    variables = {"name": name, "file": None, "signature": None}
    files_map = {"0": ["variables.file"]}
    parts = [FilePart("0", "model.bin", "application/octet-stream", [data])]
    if bundle is not None:
        files_map["1"] = ["variables.signature"]
        signature = FilePart("1", "model.sig", "application/json", [bundle])
        parts = [signature, *parts] if first else [*parts, signature]
    body = b"".join(
        multipart_chunks({"query": UPLOAD, "variables": variables}, files_map, parts, boundary)
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("first", [False, True], ids=["bundle-after-file", "bundle-first"])
async def test_a_graphql_upload_takes_its_signature(reporting, signed, first):
    name = await new_strategy(reporting)
    reply = await graphql_upload(reporting, name, DATA, signed, first=first)
    assert "errors" not in reply, reply
    signature = reply["data"]["uploadStrategyFile"]["file"]["signature"]
    assert signature["state"] == "VERIFIED" and signature["signer"] == "alice"

    reply = await graphql_upload(reporting, name, b"X" + DATA[1:], signed)
    assert reply["data"]["uploadStrategyFile"]["file"]["signature"]["state"] == "INVALID"
    reply = await graphql_upload(reporting, name, DATA, None)
    assert reply["data"]["uploadStrategyFile"]["file"]["signature"]["state"] == "UNSIGNED"


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def tus_upload(
    client: httpx.AsyncClient, name: str, data: bytes, bundle: bytes | None
) -> httpx.Response:
    """A resumable upload, created and sent in two requests."""
    fields = {"kind": "strategy", "strategy_name": name}
    if bundle is not None:
        fields["signature"] = bundle.decode()
    created = await client.post(
        "/uploads/",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(**fields)},
    )
    if created.status_code != 201:
        return created
    return await client.patch(
        created.headers["location"],
        content=data,
        headers={
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )


async def test_a_tus_upload_is_signed_by_its_metadata_or_a_later_put(reporting, signed):
    name = await new_strategy(reporting)
    assert (await tus_upload(reporting, name, DATA, signed)).status_code == 204
    stored = await stored_file(reporting, name)
    assert stored["signature"]["state"] == "VERIFIED"

    name = await new_strategy(reporting)
    assert (await tus_upload(reporting, name, DATA, None)).status_code == 204
    stored = await stored_file(reporting, name)
    assert stored["signature"]["state"] == "UNSIGNED"
    url = f"/files/{stored['id']}/signature"
    assert (await reporting.get(url)).status_code == 404

    stranger = await reporting.put(url, content=KeySigner.new().sign(DATA))
    assert stranger.status_code == 200
    assert stranger.json()["state"] == "UNTRUSTED"
    put = await reporting.put(url, content=signed)
    assert put.status_code == 200
    assert put.json()["state"] == "VERIFIED" and put.json()["signer"] == "alice"
    assert (await stored_file(reporting, name))["signature"]["state"] == "VERIFIED"
    assert (await reporting.get(url)).content == signed
    download = await reporting.get(f"/files/{stored['id']}")
    assert download.headers["x-signature-state"] == "VERIFIED"

    assert (await reporting.put(f"/files/{'0' * 24}/signature", content=signed)).status_code == 404
    assert (await reporting.put("/files/nonsense/signature", content=signed)).status_code == 404
    too_big = await reporting.put(url, content=b" " * 40_000)
    assert too_big.status_code == 413
    assert (await stored_file(reporting, name))["signature"]["state"] == "VERIFIED"


async def test_require_refuses_unsigned_invalid_and_untrusted_rest_uploads(requiring, signed, grid):
    name = await new_strategy(requiring)
    assert (await rest_put(requiring, name, DATA, signed)).status_code == 204
    kept = await stored_file(requiring, name)
    assert kept["signature"]["state"] == "VERIFIED"
    before = await grid_counts(grid)

    refused = [
        (DATA, None, False),
        (b"X" + DATA[1:], signed, False),
        (b"X" + DATA[1:], signed, True),
        (DATA, KeySigner.new().sign(DATA), True),
        (DATA, b"{malformed", False),
    ]
    for data, bundle, first in refused:
        response = await rest_put(requiring, name, data, bundle, first=first)
        assert response.status_code == 422, response.text
        assert "requires files signed by a trusted key" in response.json()["detail"]
        assert await grid_counts(grid) == before
    assert await stored_file(requiring, name) == kept
    assert (await requiring.get(f"/strategy/{name}")).content == DATA


async def test_require_refuses_graphql_uploads_with_a_code(requiring, signed, grid):
    name = await new_strategy(requiring)
    before = await grid_counts(grid)
    for data, bundle in ((DATA, None), (b"X" + DATA[1:], signed)):
        reply = await graphql_upload(requiring, name, data, bundle)
        (error,) = reply["errors"]
        assert error["extensions"]["code"] == "SIGNATURE_REFUSED"
        assert await grid_counts(grid) == before
    reply = await graphql_upload(requiring, name, DATA, signed, first=True)
    assert reply["data"]["uploadStrategyFile"]["file"]["signature"]["state"] == "VERIFIED"


async def test_require_refuses_tus_uploads_and_bad_later_bundles(requiring, signed, grid):
    name = await new_strategy(requiring)
    before = await grid_counts(grid)
    unsigned = await tus_upload(requiring, name, DATA, None)
    assert unsigned.status_code == 422
    assert "signature" in unsigned.json()["detail"]
    invalid = await tus_upload(requiring, name, b"X" + DATA[1:], signed)
    assert invalid.status_code == 422
    assert await grid_counts(grid) == before
    assert (await stored_file(requiring, name)) is None

    assert (await tus_upload(requiring, name, DATA, signed)).status_code == 204
    stored = await stored_file(requiring, name)
    assert stored["signature"]["state"] == "VERIFIED"
    url = f"/files/{stored['id']}/signature"
    refused = await requiring.put(url, content=KeySigner.new().sign(DATA))
    assert refused.status_code == 422
    assert (await stored_file(requiring, name))["signature"]["state"] == "VERIFIED"
    assert (await requiring.get(url)).content == signed


async def test_a_file_stored_before_signatures_reads_unsigned(reporting, db, grid):
    name = await new_strategy(reporting)
    assert (await rest_put(reporting, name, DATA, None)).status_code == 204
    stored = await stored_file(reporting, name)
    document = await grid["fs.files"].find_one({"filename": f"strategy/{name}"})
    assert "signature" not in document
    assert stored["signature"]["state"] == SignatureState.UNSIGNED.value
    assert document["sha256"] == hashlib.sha256(DATA).hexdigest()
