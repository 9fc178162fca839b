"""Data written by the original service (API.md section 1) reads back through GraphQL."""

import hashlib
import io

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from helpers import FILE_FIELDS, GraphQL, grid_counts, running_app

TRANSFORMATION = "application.tests.categorical_transformation"


async def put(bucket: AsyncGridFSBucket, filename: str, data: bytes) -> str:
    """A file as the original stored it: plain GridFS, no hash, no content type."""
    return str(await bucket.upload_from_stream(filename, io.BytesIO(data)))


async def write_original_data(db, grid) -> dict[str, bytes]:
    """The four collections and the grid as the original service left them; the file bytes."""
    bucket = AsyncGridFSBucket(grid)
    blobs = {
        "model": b"PK\x03\x04original model zip" * 20_000,  # several chunks
        "weights": b"\x93NUMPY weights",
        "strategy": b"\x80\x04strategy pickle",
        "transformation": b"\x80\x04transformation pickle",
    }
    model_id = await put(bucket, "model/mnist/1.0", blobs["model"])
    weights_id = await put(bucket, "weights/mnist/1.0/conf-7", blobs["weights"])
    await grid["fs.files"].update_one(
        {"_id": ObjectId(weights_id)}, {"$set": {"training_id": "t1"}}
    )
    # older drivers also kept an md5 of each file
    md5 = hashlib.md5(blobs["model"]).hexdigest()
    await grid["fs.files"].update_one({"_id": ObjectId(model_id)}, {"$set": {"md5": md5}})
    strategy_id = await put(bucket, "strategy/fedavg", blobs["strategy"])
    transformation_id = await put(
        bucket, f"transformation/{TRANSFORMATION}", blobs["transformation"]
    )

    await db.models.insert_many(
        [
            {
                "model_name": "mnist",
                "model_version": "1.0",
                "meta": {"library": "keras", "description": "CNN"},
                "model_id": model_id,
            },
            {"model_name": "legacy", "model_version": "0", "meta": None, "model_id": None},
            {"model_name": "bare", "model_version": "0"},  # optional fields missing
        ]
    )
    await db.results.insert_many(
        [
            {
                "model_name": "mnist",
                "model_version": "1.0",
                "training_id": "t1",
                "configuration_id": "conf-7",
                "results": {"rounds": "3", "accuracy": "0.24", "loss": 1.25},
                "weights_id": weights_id,
            },
            {"model_name": "mnist", "model_version": "1.0", "training_id": "t2"},
        ]
    )
    await db.strategies.insert_many(
        [
            {
                "strategy_name": "fedavg",
                "strategy_description": None,
                "meta": {"rounds": "10"},
                "strategy_id": strategy_id,
            },
            {"strategy_name": "fedprox"},
        ]
    )
    await db.transformations.insert_many(
        [
            {
                "id": TRANSFORMATION,
                "description": "one-hot encoding",
                "parameter_types": {"columns": "list"},
                "default_values": {"columns": ["a"], "sparse": False},
                "outputs": ["encoded"],
                "needs": {
                    "storage": 10,
                    "RAM": 2,
                    "GPU": False,
                    "preinstalled_libraries": {"pandas": "1.5"},
                    "available_models": {},
                },
                "storage_id": transformation_id,
            },
            {"id": "application.tests.bare"},
        ]
    )
    return blobs


async def test_original_layout_reads_back(settings, mongodb_url, db, grid):
    blobs = await write_original_data(db, grid)
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        data = await gql.data(
            f"""{{
          models(limit: 20) {{ modelName modelVersion meta {{ library description }}
                    file {{ {FILE_FIELDS} }}
                    trainingResults {{ trainingId configurationId results
                                       weights {{ {FILE_FIELDS} }} model {{ modelName }} }} }}
          strategies {{ strategyName strategyDescription meta file {{ {FILE_FIELDS} }} }}
          transformations {{ id description parameterTypes defaultValues outputs
                             needs {{ storage ram gpu preinstalledLibraries availableModels }}
                             file {{ {FILE_FIELDS} }} }}
          files {{ filename sha256 contentType length }}
        }}"""
        )

        mnist, legacy, bare = data["models"]
        assert (mnist["modelName"], legacy["modelName"], bare["modelName"]) == (
            "mnist",
            "legacy",
            "bare",
        )
        assert mnist["meta"] == {"library": "keras", "description": "CNN"}
        assert legacy["meta"] is None and legacy["file"] is None
        assert bare["meta"] is None and bare["file"] is None and bare["trainingResults"] == []

        model_file = mnist["file"]
        assert model_file["filename"] == "model/mnist/1.0"
        assert model_file["length"] == len(blobs["model"])
        assert model_file["sha256"] is None
        assert model_file["contentType"] is None

        t1, t2 = mnist["trainingResults"]
        assert t1["results"] == {"rounds": "3", "accuracy": "0.24", "loss": 1.25}
        assert t1["configurationId"] == "conf-7"
        assert t1["weights"]["filename"] == "weights/mnist/1.0/conf-7"
        assert t1["model"] == {"modelName": "mnist"}
        assert t2 == {
            "trainingId": "t2",
            "configurationId": None,
            "results": None,
            "weights": None,
            "model": {"modelName": "mnist"},
        }

        fedavg, fedprox = data["strategies"]
        assert fedavg["meta"] == {"rounds": "10"}
        assert fedavg["file"]["filename"] == "strategy/fedavg"
        assert fedprox == {
            "strategyName": "fedprox",
            "strategyDescription": None,
            "meta": None,
            "file": None,
        }

        full, minimal = data["transformations"]
        assert full["id"] == TRANSFORMATION
        assert full["needs"] == {
            "storage": 10.0,
            "ram": 2.0,
            "gpu": False,
            "preinstalledLibraries": {"pandas": "1.5"},
            "availableModels": {},
        }
        assert full["defaultValues"] == {"columns": ["a"], "sparse": False}
        assert full["file"]["filename"] == f"transformation/{TRANSFORMATION}"
        assert minimal["id"] == "application.tests.bare"
        assert minimal["needs"] is None and minimal["file"] is None

        assert [f["filename"] for f in data["files"]] == [
            "model/mnist/1.0",
            "weights/mnist/1.0/conf-7",
            "strategy/fedavg",
            f"transformation/{TRANSFORMATION}",
        ]
        assert all(f["sha256"] is None and f["contentType"] is None for f in data["files"])

        one = await gql.data(
            f'{{ transformation(id: "{TRANSFORMATION}") {{ id outputs }} '
            '  trainingResult(modelName: "mnist", modelVersion: "1.0", trainingId: "t1") '
            "  { weights { length } } "
            '  model(modelName: "legacy", modelVersion: "0") { modelVersion } '
            '  strategy(strategyName: "fedavg") { strategyName } }'
        )
        assert one == {
            "transformation": {"id": TRANSFORMATION, "outputs": ["encoded"]},
            "trainingResult": {"weights": {"length": len(blobs["weights"])}},
            "model": {"modelVersion": "0"},
            "strategy": {"strategyName": "fedavg"},
        }

        # the files download, without an ETag since no hash was kept
        for file, blob in [
            (model_file, blobs["model"]),
            (t1["weights"], blobs["weights"]),
            (fedavg["file"], blobs["strategy"]),
            (full["file"], blobs["transformation"]),
        ]:
            response = await client.get(file["downloadUrl"])
            assert response.status_code == 200
            assert response.content == blob
            assert response.headers["content-length"] == str(len(blob))
            assert response.headers["content-type"] == "application/octet-stream"
            assert "etag" not in response.headers


async def test_original_data_can_be_changed(settings, mongodb_url, db, grid):
    blobs = await write_original_data(db, grid)
    old_weights = await grid["fs.files"].find_one({"filename": "weights/mnist/1.0/conf-7"})
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        await gql.data(
            'mutation { updateModelMeta(modelName: "legacy", modelVersion: "0", '
            'meta: {library: "sklearn"}) { modelName } }'
        )
        assert (await db.models.find_one({"model_name": "legacy"}))["meta"] == {
            "library": "sklearn",
            "description": None,
        }
        new = b"new weights"
        result = await gql.upload_data(
            'mutation($file: Upload!) { uploadTrainingWeights(modelName: "mnist", '
            'modelVersion: "1.0", trainingId: "t1", configurationId: "conf-8", file: $file) '
            "{ weights { id sha256 filename } } }",
            {},
            new,
        )
        weights = result["uploadTrainingWeights"]["weights"]
        assert weights["sha256"] == hashlib.sha256(new).hexdigest()
        assert weights["filename"] == "weights/mnist/1.0/conf-8"
        # The old weights are kept as a revision of the result.
        kept = await db.file_revisions.find_one({"file_id": str(old_weights["_id"])})
        assert kept["collection"] == "results" and kept["field"] == "weights_id"
        model_chunks = -(-len(blobs["model"]) // (255 * 1024))
        assert model_chunks > 1
        assert await grid_counts(grid) == (5, model_chunks + 4)

        await gql.data(
            'mutation { updateTransformation(input: {id: "application.tests.bare", '
            'description: "now described"}) { id } }'
        )
        stored = await db.transformations.find_one({"id": "application.tests.bare"})
        assert stored["description"] == "now described"
        assert await db.transformations.count_documents({}) == 2

        for mutation in (
            f'deleteTransformation(id: "{TRANSFORMATION}")',
            'deleteStrategy(strategyName: "fedprox")',
            'deleteModel(modelName: "mnist", modelVersion: "1.0")',
        ):
            assert (await gql.data(f"mutation {{ {mutation} }}")) is not None
        assert await db.transformations.count_documents({}) == 1
        assert await db.strategies.count_documents({}) == 1
        # weights (with the revision of the old ones) and strategy left
        assert await grid_counts(grid) == (3, 3)


async def test_original_duplicates_are_refused(settings, mongodb_url, db, grid):
    """The unique indexes are created over the original data and then decide duplicates."""
    await write_original_data(db, grid)
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        for mutation in (
            'createModel(input: {modelName: "bare", modelVersion: "0"}) { modelName }',
            'createTrainingResult(input: {modelName: "mnist", modelVersion: "1.0", '
            'trainingId: "t2"}) { trainingId }',
            'createStrategy(input: {strategyName: "fedprox"}) { strategyName }',
            f'createTransformation(input: {{id: "{TRANSFORMATION}"}}) {{ id }}',
        ):
            error = await gql.error(f"mutation {{ {mutation} }}")
            assert error["extensions"]["code"] == "ALREADY_EXISTS", mutation
