"""GraphQL over HTTP: the inference deployment's services and inferencers."""

import pytest
from helpers import FILE_FIELDS, GraphQL, grid_counts
from pickles import global_call

NEEDS = "needs { storage ram gpu preinstalledLibraries availableModels }"
FILE = f"file {{ {FILE_FIELDS} safety {{ verdict dangerousGlobals }} }}"
FIELDS = {
    "service": f"id description {NEEDS} {FILE}",
    "inferencer": f"id description library useCuda {NEEDS} {FILE}",
}
EXPLOIT = global_call("os", "system", "echo pwned", 2)


def ops(word: str) -> dict[str, str]:
    """The queries and mutations of one collection (`service` or `inferencer`)."""
    kind, fields = word.capitalize(), FIELDS[word]
    given = f"mutation($input: {kind}Input!)"
    return {
        "create": f"{given} {{ create{kind}(input: $input) {{ {fields} }} }}",
        "update": f"{given} {{ update{kind}(input: $input) {{ {fields} }} }}",
        "get": f"query($id: String!) {{ {word}(id: $id) {{ {fields} }} }}",
        "list": f"query($limit: Int, $offset: Int) {{ {word}s(limit: $limit, offset: $offset) {{ id }} }}",  # noqa: E501
        "upload": (
            f"mutation($id: String!, $file: Upload!) "
            f"{{ upload{kind}File(id: $id, file: $file) {{ {fields} }} }}"
        ),
        "delete": f"mutation($id: String!) {{ delete{kind}(id: $id) }}",
    }


SERVICE_INPUT = {
    "id": "inference_application.code.services.extended_inference_svc",
    "description": "bidirectional gRPC streaming of TensorProto maps",
    "needs": {"storage": 0, "ram": 1.5, "gpu": False, "preinstalledLibraries": {"grpcio": "1"}},
}
INFERENCER_INPUT = {
    "id": "inference_application.code.inferencers.torch_rcnn_inferencer",
    "description": "loads and runs an RCNN model in Torch",
    "library": "torch",
    "useCuda": True,
    "needs": {"ram": 4, "gpu": True},
}
KINDS = [
    pytest.param("service", "services", SERVICE_INPUT, id="service"),
    pytest.param("inferencer", "inferencers", INFERENCER_INPUT, id="inferencer"),
]


@pytest.mark.parametrize(("word", "collection", "given"), KINDS)
async def test_create_get_and_list(gql: GraphQL, db, word, collection, given):
    q = ops(word)
    kind = word.capitalize()
    created = (await gql.data(q["create"], input=given))[f"create{kind}"]
    assert created["id"] == given["id"]
    assert created["description"] == given["description"]
    assert created["needs"]["ram"] == float(given["needs"]["ram"])
    assert created["file"] is None
    if word == "inferencer":
        assert (created["library"], created["useCuda"]) == ("torch", True)
    assert (await gql.data(q["get"], id=given["id"]))[word] == created
    assert (await gql.data(q["get"], id="absent"))[word] is None

    stored = await db[collection].find_one({"id": given["id"]}, {"_id": 0, "created_at": 0})
    assert stored["needs"]["RAM"] == float(given["needs"]["ram"])  # the original's key names
    assert stored["storage_id"] is None
    if word == "inferencer":
        assert (stored["library"], stored["use_cuda"]) == ("torch", True)

    for name in ("b.second", "a.third"):
        await gql.data(q["create"], input={"id": name})
    listed = (await gql.data(q["list"]))[f"{word}s"]
    assert [item["id"] for item in listed] == [given["id"], "b.second", "a.third"]
    paged = (await gql.data(q["list"], limit=1, offset=1))[f"{word}s"]
    assert [item["id"] for item in paged] == ["b.second"]


@pytest.mark.parametrize(("word", "collection", "given"), KINDS)
async def test_create_existing_or_invalid_is_a_coded_error(gql, db, word, collection, given):
    q = ops(word)
    await gql.data(q["create"], input=given)
    error = await gql.error(q["create"], input={**given, "description": "other"})
    assert error["extensions"]["code"] == "ALREADY_EXISTS"
    error = await gql.error(q["create"], input={"id": "a/b"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await db[collection].count_documents({}) == 1


@pytest.mark.parametrize(("word", "collection", "given"), KINDS)
async def test_upload_is_scanned_replaced_and_kept_by_an_update(gql, grid, word, collection, given):
    q = ops(word)
    kind = word.capitalize()
    await gql.data(q["create"], input=given)
    first = (await gql.upload_data(q["upload"], {"id": given["id"]}, b"not a pickle"))[
        f"upload{kind}File"
    ]["file"]
    assert first["filename"] == f"{word}/{given['id']}"
    assert first["safety"]["verdict"] == "NOT_PICKLE"

    evil = (await gql.upload_data(q["upload"], {"id": given["id"]}, EXPLOIT))[f"upload{kind}File"][
        "file"
    ]
    assert evil["safety"]["verdict"] == "DANGEROUS"  # the upload path scans every object
    assert evil["safety"]["dangerousGlobals"] == ["os.system"]
    assert await grid_counts(grid) == (2, 2)  # the first file is kept as a revision

    updated = (await gql.data(q["update"], input={"id": given["id"], "description": "v2"}))[
        f"update{kind}"
    ]
    assert updated["description"] == "v2"
    assert updated["needs"] is None  # replaced, not merged
    assert updated["file"]["id"] == evil["id"]


@pytest.mark.parametrize(("word", "collection", "given"), KINDS)
async def test_delete_removes_metadata_and_file(gql, db, grid, word, collection, given):
    q = ops(word)
    await gql.data(q["create"], input=given)
    await gql.upload_data(q["upload"], {"id": given["id"]}, b"object" * 1000)
    assert (await gql.data(q["delete"], id=given["id"]))[f"delete{word.capitalize()}"] is True
    assert await db[collection].count_documents({}) == 0
    assert await grid_counts(grid) == (0, 0)
    error = await gql.error(q["delete"], id=given["id"])
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await gql.error(q["update"], input={"id": given["id"]})
    assert error["extensions"]["code"] == "NOT_FOUND"
