"""GraphQL over HTTP: data transformations, keyed by a field named `id`."""

from helpers import FILE_FIELDS, GraphQL, grid_counts

TRANSFORMATION_FIELDS = f"""id description parameterTypes defaultValues outputs
  needs {{ storage ram gpu preinstalledLibraries availableModels }} file {{ {FILE_FIELDS} }}"""

CREATE = f"""
mutation($input: TransformationInput!) {{
  createTransformation(input: $input) {{ {TRANSFORMATION_FIELDS} }}
}}"""

UPDATE = f"""
mutation($input: TransformationInput!) {{
  updateTransformation(input: $input) {{ {TRANSFORMATION_FIELDS} }}
}}"""

GET = f"""query($id: String!) {{ transformation(id: $id) {{ {TRANSFORMATION_FIELDS} }} }}"""

UPLOAD = f"""
mutation($id: String!, $file: Upload!) {{
  uploadTransformationFile(id: $id, file: $file) {{ {TRANSFORMATION_FIELDS} }}
}}"""

CATEGORICAL = "application.tests.categorical_transformation"

FULL_INPUT = {
    "id": CATEGORICAL,
    "description": "One-hot encodes the categorical columns",
    "parameterTypes": {"columns": "list", "drop_first": "bool"},
    "defaultValues": {"columns": ["a", "b"], "drop_first": False, "n": 3},
    "outputs": ["encoded"],
    "needs": {
        "storage": 1.5,
        "ram": 4,
        "gpu": True,
        "preinstalledLibraries": {"pandas": "2.2"},
        "availableModels": {"mnist": "1"},
    },
}


async def create(gql: GraphQL, input: dict) -> dict:
    return (await gql.data(CREATE, input=input))["createTransformation"]


async def test_create_transformation_stores_the_original_layout(gql, db):
    created = await create(gql, FULL_INPUT)
    assert created == {
        **FULL_INPUT,
        "needs": {**FULL_INPUT["needs"], "ram": 4.0},
        "file": None,
    }
    stored = await db.transformations.find_one({}, {"_id": 0, "created_at": 0})
    assert stored == {
        "id": CATEGORICAL,
        "description": "One-hot encodes the categorical columns",
        "parameter_types": {"columns": "list", "drop_first": "bool"},
        "default_values": {"columns": ["a", "b"], "drop_first": False, "n": 3},
        "outputs": ["encoded"],
        "needs": {
            "storage": 1.5,
            "RAM": 4.0,
            "GPU": True,
            "preinstalled_libraries": {"pandas": "2.2"},
            "available_models": {"mnist": "1"},
        },
        "storage_id": None,
    }
    assert (await gql.data(GET, id=CATEGORICAL))["transformation"] == created
    assert (await gql.data(GET, id="application.tests.other"))["transformation"] is None


async def test_minimal_transformation(gql):
    created = await create(gql, {"id": "t.minimal"})
    assert created == {
        "id": "t.minimal",
        "description": None,
        "parameterTypes": None,
        "defaultValues": None,
        "outputs": None,
        "needs": None,
        "file": None,
    }
    needs_default = await create(gql, {"id": "t.needs", "needs": {"ram": 1}})
    assert needs_default["needs"]["gpu"] is False


async def test_update_transformation_replaces_metadata_and_keeps_the_file(gql, client, db, grid):
    await create(gql, FULL_INPUT)
    data = b"pickled transformation" * 300
    uploaded = (await gql.upload_data(UPLOAD, {"id": CATEGORICAL}, data))[
        "uploadTransformationFile"
    ]
    file = uploaded["file"]
    assert file["filename"] == f"transformation/{CATEGORICAL}"

    updated = (
        await gql.data(
            UPDATE,
            input={"id": CATEGORICAL, "description": "v2", "needs": {"ram": 8, "gpu": False}},
        )
    )["updateTransformation"]
    assert updated["description"] == "v2"
    assert updated["parameterTypes"] is None  # replaced, not merged
    assert updated["outputs"] is None
    assert updated["needs"] == {
        "storage": None,
        "ram": 8.0,
        "gpu": False,
        "preinstalledLibraries": None,
        "availableModels": None,
    }
    assert updated["file"] == file

    stored = await db.transformations.find_one({"id": CATEGORICAL})
    assert stored["storage_id"] == file["id"]
    assert stored["needs"]["RAM"] == 8.0
    assert stored["needs"]["GPU"] is False
    assert "ram" not in stored["needs"]
    assert await db.transformations.count_documents({}) == 1
    assert (await client.get(file["downloadUrl"])).content == data
    assert await grid_counts(grid) == (1, 1)
