"""Names are one key however they are spelled: NFC on write and lookup, look-alikes refused,
names stored before these rules still readable, file names shown without bidi tricks."""

import unicodedata

import httpx
import pytest
from helpers import GraphQL

CREATE = "mutation($n: String!, $v: String!) { createModel(input: {modelName: $n, modelVersion: $v}) { modelName } }"  # noqa: E501
GET = "query($n: String!, $v: String!) { model(modelName: $n, modelVersion: $v) { modelName } }"
DELETE = "mutation($n: String!, $v: String!) { deleteModel(modelName: $n, modelVersion: $v) }"
NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")

REFUSED = {
    "trailing space": "m1 ",
    "leading space": " m1",
    "trailing tab": "m1\t",
    "no-break space inside": "m\u00a01",
    "trailing no-break space": "m1\u00a0",
    "ideographic space": "m\u30001",
    "fullwidth letter": "\uff4d1",
    "ligature": "\ufb01le",
    "right-to-left override": "\u202egnp.exe",
    "left-to-right mark": "m1\u200e",
    "right-to-left isolate": "m\u20671",
    "zero-width space": "m\u200b1",
    "zero-width joiner": "m\u200d1",
    "byte order mark": "\ufeffm1",
    "soft hyphen": "m\u00ad1",
}


async def test_nfc_and_nfd_are_one_model(gql: GraphQL, client: httpx.AsyncClient, db) -> None:
    await gql.data(CREATE, n=NFD, v="1")
    stored = await db["models"].find_one({})
    assert stored["model_name"] == NFC
    error = await gql.error(CREATE, n=NFC, v="1")
    assert error["extensions"]["code"] == "ALREADY_EXISTS"
    for spelling in (NFC, NFD):
        assert (await gql.data(GET, n=spelling, v="1"))["model"] == {"modelName": NFC}
        response = await client.get(
            "/model/meta", params={"model_name": spelling, "model_version": "1"}
        )
        assert response.status_code == 200, response.text
    response = await client.post("/model", json={"model_name": NFD, "model_version": "1"})
    assert response.status_code == 400, response.text  # the original's "already exists"
    assert await db["models"].count_documents({}) == 1


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
async def test_look_alike_names_are_refused(gql: GraphQL, client: httpx.AsyncClient, db, name):
    error = await gql.error(CREATE, n=name, v="1")
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    error = await gql.error(CREATE, n="m", v=name)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    response = await client.post("/model", json={"model_name": name, "model_version": "1"})
    assert response.status_code == 422, response.text
    strategy = await client.post("/strategy", json={"strategy_name": name})
    assert strategy.status_code == 422, strategy.text
    assert await db["models"].count_documents({}) == 0
    assert await db["strategies"].count_documents({}) == 0


LEGACY = ["m1 ", " m1", "m\u00a01", "\uff4d1", "a\u202eb", "m\u200b1", NFD]


@pytest.mark.parametrize("name", LEGACY)
async def test_names_stored_before_stay_readable_and_deletable(gql: GraphQL, db, name):
    """Records an older server (or the original service) wrote keep their exact names."""
    await db["models"].insert_one({"model_name": name, "model_version": "1", "meta": {}})
    await db["models"].insert_one({"model_name": "other", "model_version": "1", "meta": {}})
    assert (await gql.data(GET, n=name, v="1"))["model"] == {"modelName": name}
    listed = await gql.data("query($n: String!) { models(modelName: $n) { modelName } }", n=name)
    assert listed["models"] == [{"modelName": name}]
    assert (await gql.data(DELETE, n=name, v="1")) == {"deleteModel": True}
    assert await db["models"].count_documents({}) == 1
    error = await gql.error(DELETE, n=name, v="1")
    assert error["extensions"]["code"] in {"NOT_FOUND", "BAD_USER_INPUT"}, error


async def test_an_nfc_record_is_found_before_a_legacy_nfd_one(gql: GraphQL, db) -> None:
    await db["models"].insert_one({"model_name": NFD, "model_version": "1", "meta": {"x": 1}})
    await gql.data(CREATE, n=NFC, v="1")
    found = await gql.data(
        'query($n: String!) { model(modelName: $n, modelVersion: "1") { modelName meta { description } } }',  # noqa: E501
        n=NFD,
    )
    assert found["model"]["modelName"] == NFC


BIDI = ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u200f", "\u061c", "\u200b", "\x07"]


@pytest.mark.parametrize("mark", BIDI)
async def test_download_names_lose_bidi_and_control_characters(
    gql: GraphQL, client: httpx.AsyncClient, mark: str
) -> None:
    await gql.data(CREATE, n="m", v="1")
    upload = (
        'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", '
        "file: $file) { file { downloadUrl } } }"
    )
    data = await gql.upload_data(upload, {}, b"bytes", filename=f"{mark}gnp.exe")
    response = await client.get(data["uploadModelFile"]["file"]["downloadUrl"])
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;"), disposition
    assert 'filename="gnp.exe"' in disposition, disposition
    assert disposition.endswith("filename*=UTF-8''gnp.exe"), disposition
