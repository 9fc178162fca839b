"""GraphQL over HTTP: ML models, their files, filters and nested training results."""

from helpers import FILE_FIELDS, GraphQL

MODEL_FIELDS = f"modelName modelVersion meta {{ library description }} file {{ {FILE_FIELDS} }}"

CREATE = f"""
mutation($name: String!, $version: String!, $meta: ModelMetaInput) {{
  createModel(input: {{modelName: $name, modelVersion: $version, meta: $meta}}) {{
    {MODEL_FIELDS} trainingResults {{ trainingId }}
  }}
}}"""

GET = f"""
query($name: String!, $version: String!) {{
  model(modelName: $name, modelVersion: $version) {{ {MODEL_FIELDS} }}
}}"""


LIST = """
query($name: String, $library: String, $trained: Boolean, $limit: Int, $offset: Int) {
  models(modelName: $name, library: $library, trained: $trained, limit: $limit, offset: $offset) {
    modelName modelVersion
  }
}"""


async def create(gql: GraphQL, name: str, version: str, library: str | None = None) -> None:
    meta = {"library": library, "description": f"{name} {version}"} if library else None
    await gql.data(CREATE, name=name, version=version, meta=meta)


async def test_create_model_stores_the_original_layout(gql, db):
    meta = {"library": "keras", "description": "a CNN for MNIST"}
    created = (await gql.data(CREATE, name="mnist", version="1.0", meta=meta))["createModel"]
    assert created == {
        "modelName": "mnist",
        "modelVersion": "1.0",
        "meta": meta,
        "file": None,
        "trainingResults": [],
    }

    stored = await db.models.find_one({}, {"_id": 0, "created_at": 0, "trained": 0})
    assert stored == {
        "model_name": "mnist",
        "model_version": "1.0",
        "meta": {"library": "keras", "description": "a CNN for MNIST"},
        "model_id": None,
    }

    got = (await gql.data(GET, name="mnist", version="1.0"))["model"]
    assert got == {key: created[key] for key in ("modelName", "modelVersion", "meta", "file")}


async def test_model_without_meta_and_absent_model(gql):
    await gql.data(CREATE, name="bare", version="1")
    assert (await gql.data(GET, name="bare", version="1"))["model"]["meta"] is None
    assert (await gql.data(GET, name="bare", version="2"))["model"] is None
    assert (await gql.data(GET, name="other", version="1"))["model"] is None


async def test_update_model_meta_replaces_it(gql, db):
    await create(gql, "m", "1", "keras")
    updated = await gql.data(
        """mutation { updateModelMeta(modelName: "m", modelVersion: "1",
                        meta: {library: "pytorch"}) { meta { library description } } }"""
    )
    assert updated["updateModelMeta"]["meta"] == {"library": "pytorch", "description": None}
    stored = await db.models.find_one({"model_name": "m"})
    assert stored["meta"] == {"library": "pytorch", "description": None}
    assert (await gql.data(GET, name="m", version="1"))["model"]["meta"]["library"] == "pytorch"


async def test_models_filters_and_pages(gql):
    await create(gql, "a", "1", "keras")
    await create(gql, "a", "2", "pytorch")
    await create(gql, "b", "1", "keras")
    await create(gql, "c", "1")
    for name in ("a", "b"):
        await gql.data(
            """mutation($name: String!) { createTrainingResult(
                 input: {modelName: $name, modelVersion: "1", trainingId: "t"}) { trainingId } }""",
            name=name,
        )

    async def names(**args) -> list[str]:
        models = (await gql.data(LIST, **args))["models"]
        return [f"{m['modelName']}{m['modelVersion']}" for m in models]

    assert await names() == ["a1", "a2", "b1", "c1"]
    assert await names(name="a") == ["a1", "a2"]
    assert await names(name="z") == []
    assert await names(library="keras") == ["a1", "b1"]
    assert await names(trained=True) == ["a1", "b1"]
    assert await names(trained=False) == ["a2", "c1"]
    assert await names(name="a", trained=True) == ["a1"]
    assert await names(library="pytorch", trained=False) == ["a2"]
    assert await names(limit=2) == ["a1", "a2"]
    assert await names(limit=2, offset=1) == ["a2", "b1"]
    assert await names(offset=3) == ["c1"]
    assert await names(limit=0) == []
    assert await names(trained=True, limit=1, offset=1) == ["b1"]
    assert await names(trained=False, offset=1) == ["c1"]


async def test_model_lists_only_its_own_training_results(gql):
    await create(gql, "m", "1")
    await create(gql, "m", "2")
    for version, training in (("1", "t1"), ("1", "t2"), ("2", "t3")):
        await gql.data(
            """mutation($v: String!, $t: String!) { createTrainingResult(
                 input: {modelName: "m", modelVersion: $v, trainingId: $t}) { trainingId } }""",
            v=version,
            t=training,
        )
    query = """{ models { modelVersion
        trainingResults { trainingId modelVersion model { modelVersion } } } }"""
    models = (await gql.data(query))["models"]
    assert models == [
        {
            "modelVersion": "1",
            "trainingResults": [
                {"trainingId": "t1", "modelVersion": "1", "model": {"modelVersion": "1"}},
                {"trainingId": "t2", "modelVersion": "1", "model": {"modelVersion": "1"}},
            ],
        },
        {
            "modelVersion": "2",
            "trainingResults": [
                {"trainingId": "t3", "modelVersion": "2", "model": {"modelVersion": "2"}}
            ],
        },
    ]
