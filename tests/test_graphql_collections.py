"""GraphQL behaviours every collection shares, once for each collection: its file is uploaded,
served, replaced and deleted with it, and its list keeps creation order with pages. What only
one collection does is tested in test_graphql_<collection>.py; the REST face's twin of this
module is test_rest_collections.py."""

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import FILE_FIELDS, GraphQL, grid_counts


@dataclass(frozen=True)
class Kind:
    """One collection as the GraphQL face shows it; an item is named by one string, `key`."""

    collection: str  # its MongoDB collection
    match: str  # the stored field `key` is in
    file_field: str  # the stored field naming its GridFS file
    file: str  # the GraphQL field of its file
    get: str  # query(key) { <field>(…) { <file field> } }
    create: str  # mutation(key)
    upload: str  # mutation(key, file)
    delete: str  # mutation(key) -> Boolean
    listing: str  # query(limit, offset) { <field> { <key field> } }
    key_field: str  # the GraphQL field holding `key` in a listing
    filename: str  # the GridFS name, with {key}

    async def make(self, gql: GraphQL, key: str) -> None:
        await gql.data(self.create, key=key)

    async def fetch(self, gql: GraphQL, key: str) -> dict[str, Any] | None:
        return next(iter((await gql.data(self.get, key=key)).values()))

    async def put(self, gql: GraphQL, key: str, data: bytes, **kw: Any) -> dict[str, Any]:
        reply = await gql.upload_data(self.upload, {"key": key}, data, **kw)
        return next(iter(reply.values()))[self.file]

    async def remove(self, gql: GraphQL, key: str) -> bool:
        return next(iter((await gql.data(self.delete, key=key)).values()))

    async def keys(self, gql: GraphQL, **page: int) -> list[str]:
        items = next(iter((await gql.data(self.listing, **page)).values()))
        return [item[self.key_field] for item in items]


FILE = f"{{ {FILE_FIELDS} }}"
PAGE = "$limit: Int, $offset: Int"
KINDS = {
    "models": Kind(
        collection="models",
        match="model_name",
        file_field="model_id",
        file="file",
        get='query($key: String!) { model(modelName: $key, modelVersion: "1")'
        f" {{ file {FILE} }} }}",
        create='mutation($key: String!) { createModel(input: {modelName: $key, modelVersion: "1"})'
        " { modelName } }",
        upload="mutation($key: String!, $file: Upload!) { uploadModelFile(modelName: $key,"
        f' modelVersion: "1", file: $file) {{ file {FILE} }} }}',
        delete='mutation($key: String!) { deleteModel(modelName: $key, modelVersion: "1") }',
        listing=f"query({PAGE}) {{ models(limit: $limit, offset: $offset) {{ modelName }} }}",
        key_field="modelName",
        filename="model/{key}/1",
    ),
    "results": Kind(
        collection="results",
        match="training_id",
        file_field="weights_id",
        file="weights",
        get='query($key: String!) { trainingResult(modelName: "m", modelVersion: "1",'
        f" trainingId: $key) {{ weights {FILE} }} }}",
        create='mutation($key: String!) { createTrainingResult(input: {modelName: "m",'
        ' modelVersion: "1", trainingId: $key}) { trainingId } }',
        upload='mutation($key: String!, $file: Upload!) { uploadTrainingWeights(modelName: "m",'
        f' modelVersion: "1", trainingId: $key, configurationId: "c", file: $file)'
        f" {{ weights {FILE} }} }}",
        delete='mutation($key: String!) { deleteTrainingResult(modelName: "m", modelVersion: "1",'
        " trainingId: $key) }",
        listing=f"query({PAGE}) {{ trainingResults(limit: $limit, offset: $offset)"
        " { trainingId } }",
        key_field="trainingId",
        filename="weights/m/1/c",
    ),
    "strategies": Kind(
        collection="strategies",
        match="strategy_name",
        file_field="strategy_id",
        file="file",
        get=f"query($key: String!) {{ strategy(strategyName: $key) {{ file {FILE} }} }}",
        create="mutation($key: String!) { createStrategy(input: {strategyName: $key})"
        " { strategyName } }",
        upload="mutation($key: String!, $file: Upload!) { uploadStrategyFile(strategyName: $key,"
        f" file: $file) {{ file {FILE} }} }}",
        delete="mutation($key: String!) { deleteStrategy(strategyName: $key) }",
        listing=f"query({PAGE}) {{ strategies(limit: $limit, offset: $offset)"
        " { strategyName } }",
        key_field="strategyName",
        filename="strategy/{key}",
    ),
    **{
        plural: Kind(
            collection=plural,
            match="id",
            file_field="storage_id",
            file="file",
            get=f"query($key: String!) {{ {word}(id: $key) {{ file {FILE} }} }}",
            create=f"mutation($key: String!) {{ create{name}(input: {{id: $key}}) {{ id }} }}",
            upload=f"mutation($key: String!, $file: Upload!) {{ upload{name}File(id: $key,"
            f" file: $file) {{ file {FILE} }} }}",
            delete=f"mutation($key: String!) {{ delete{name}(id: $key) }}",
            listing=f"query({PAGE}) {{ {plural}(limit: $limit, offset: $offset) {{ id }} }}",
            key_field="id",
            filename=f"{word}/{{key}}",
        )
        for word, name, plural in (
            ("transformation", "Transformation", "transformations"),
            ("service", "Service", "services"),
            ("inferencer", "Inferencer", "inferencers"),
        )
    },
}
kinds = pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())


@kinds
async def test_upload_stores_the_file_and_serves_it(kind: Kind, gql, client, db, grid):
    await kind.make(gql, "k.one")
    data = b"PK\x03\x04 not really an archive " * 100
    file = await kind.put(gql, "k.one", data, content_type="application/zip")
    assert file["filename"] == kind.filename.format(key="k.one")
    assert file["length"] == len(data)
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert file["contentType"] == "application/zip"
    assert file["downloadUrl"] == f"/files/{file['id']}"

    stored = await db[kind.collection].find_one({kind.match: "k.one"})
    assert stored[kind.file_field] == file["id"]
    assert (await kind.fetch(gql, "k.one"))[kind.file] == file
    response = await client.get(file["downloadUrl"])
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "application/zip"
    assert await grid_counts(grid) == (1, 1)


@kinds
async def test_a_new_upload_replaces_the_file(kind: Kind, gql, client, db, grid):
    await kind.make(gql, "k.one")
    first = await kind.put(gql, "k.one", b"first pickle")
    second_data = b"\x80\x04second pickle" * 1000
    second = await kind.put(gql, "k.one", second_data)
    assert second["id"] != first["id"]
    assert second["sha256"] == hashlib.sha256(second_data).hexdigest()
    assert (await db[kind.collection].find_one({kind.match: "k.one"}))[kind.file_field] == second[
        "id"
    ]
    # The first file is kept as a revision until it is purged or expires (test_revisions.py).
    assert await grid_counts(grid) == (2, 2)
    assert (await client.get(first["downloadUrl"])).content == b"first pickle"
    assert (await client.get(second["downloadUrl"])).content == second_data


@kinds
async def test_delete_removes_the_item_and_only_its_file(kind: Kind, gql, db, grid):
    for key in ("k.keep", "k.gone"):
        await kind.make(gql, key)
        await kind.put(gql, key, key.encode() * 1000)
    assert await grid_counts(grid) == (2, 2)

    assert await kind.remove(gql, "k.gone") is True
    assert await kind.fetch(gql, "k.gone") is None
    assert await db[kind.collection].count_documents({}) == 1
    assert await grid_counts(grid) == (1, 1)
    kept = (await kind.fetch(gql, "k.keep"))[kind.file]
    assert kept["length"] == len(b"k.keep") * 1000
    assert await grid["fs.files"].find_one({"filename": kind.filename.format(key="k.keep")})


@kinds
async def test_the_list_keeps_creation_order_with_pages(kind: Kind, gql):
    for key in ("k.c", "k.a", "k.b"):
        await kind.make(gql, key)
    assert await kind.keys(gql) == ["k.c", "k.a", "k.b"]
    assert await kind.keys(gql, limit=1) == ["k.c"]
    assert await kind.keys(gql, limit=2) == ["k.c", "k.a"]
    assert await kind.keys(gql, offset=1) == ["k.a", "k.b"]
    assert await kind.keys(gql, limit=1, offset=2) == ["k.b"]
    assert await kind.keys(gql, limit=0) == []
