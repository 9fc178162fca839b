"""A database written by the original service, as deployments hold it, served by every GET route.

The documents are inserted with PyMongo the way the original wrote them: GridFS files through
`GridFSBucket.upload_from_stream` (no `sha256`, no `contentType`), weights files with a top-level
`training_id`, metadata pointing at files by hex id strings, the transformation key in `id`.
The server is started only after, as when it is pointed at an existing database.
"""

import base64
import io
import os
import shutil

import pytest
import requests
from bson import ObjectId
from gridfs import GridFSBucket
from rest_fixtures import assert_detail, assert_no_content, put_file, running_server

pytest_plugins = ["rest_fixtures"]

MODEL_BYTES = os.urandom(600_000)  # three GridFS chunks of the default size
WEIGHTS_BYTES = os.urandom(100_001)
STRATEGY_BYTES = b"\x80\x04pickled strategy"
TRANSFORMATION_BYTES = b"\x80\x04pickled transformation"
TRANSFORMATION = "application.tests.categorical_transformation"

MODELS = [
    {
        "model_name": "mnist",
        "model_version": "1",
        "meta": {"library": "keras", "description": "CNN"},
    },
    {"model_name": "mnist", "model_version": "2", "meta": None, "model_id": None},
    {"model_name": "mnist", "model_version": "3", "meta": {"library": "keras", "description": ""}},
]
RESULTS = [
    {
        "model_name": "mnist",
        "model_version": "1",
        "training_id": "run-1",
        "configuration_id": "cfg",
        "results": {"rounds": "3", "accuracy": "0.24"},
    },
    {
        "model_name": "mnist",
        "model_version": "1",
        "training_id": "run-2",
        "configuration_id": "cfg",
        "results": {"rounds": 5, "accuracy": 0.5},
        "weights_id": None,
    },
]
STRATEGIES = [
    {"strategy_name": "fedavg", "strategy_description": "FedAvg", "meta": {"rounds": "3"}},
    {"strategy_name": "bare", "strategy_description": None, "meta": {}, "strategy_id": None},
]
TRANSFORMATIONS = [
    {
        "id": TRANSFORMATION,
        "description": "one-hot encoding",
        "parameter_types": {"columns": "list"},
        "default_values": {"columns": ["a"]},
        "outputs": ["encoded"],
        "needs": {
            "storage": 1.5,
            "RAM": 2.0,
            "GPU": False,
            "preinstalled_libraries": {"pandas": "1.5"},
            "available_models": {"mnist": "1"},
        },
    }
]


def write_original_data(db, grid):
    bucket = GridFSBucket(grid)

    def upload(filename, data):
        return str(bucket.upload_from_stream(filename, io.BytesIO(data)))

    MODELS[0]["model_id"] = upload("model/mnist/1", MODEL_BYTES)
    MODELS[2]["model_id"] = str(ObjectId())  # its file is gone
    weights_id = upload("weights/mnist/1/cfg", WEIGHTS_BYTES)
    grid["fs.files"].update_one({"_id": ObjectId(weights_id)}, {"$set": {"training_id": "run-1"}})
    RESULTS[0]["weights_id"] = weights_id
    STRATEGIES[0]["strategy_id"] = upload("strategy/fedavg", STRATEGY_BYTES)
    TRANSFORMATIONS[0]["storage_id"] = upload(
        f"transformation/{TRANSFORMATION}", TRANSFORMATION_BYTES
    )

    # insert_many would add `_id` to the dicts; the expected answers have none.
    db.models.insert_many([dict(doc) for doc in MODELS])
    db.results.insert_many([dict(doc) for doc in RESULTS])
    db.strategies.insert_many([dict(doc) for doc in STRATEGIES])
    db.transformations.insert_many([dict(doc) for doc in TRANSFORMATIONS])


@pytest.fixture(scope="module")
def original(sync_mongo, mongodb_url, tmp_path_factory):
    """A server started on a repository that only the original service ever wrote."""
    log_dir = tmp_path_factory.mktemp("original")
    with running_server(sync_mongo, mongodb_url, log_dir, prepare=write_original_data) as server:
        yield server


def as_model(doc):
    """A model document as the original's REST answers render it (every field present)."""
    return {"meta": None, "model_id": None, **doc}


def files_as_listed(server):
    docs = server.grid["fs.files"].find({}).sort([("uploadDate", 1), ("_id", 1)])
    return [
        {
            **{k: v for k, v in doc.items() if k != "_id"},
            "uploadDate": doc["uploadDate"].isoformat(),
        }
        for doc in docs
    ]


def download(url, tmp_path, **kwargs):
    target = tmp_path / "download"
    with requests.get(url, stream=True, **kwargs) as response:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        length = int(response.headers["content-length"])
        with target.open("wb") as f:
            shutil.copyfileobj(response.raw, f)
    data = target.read_bytes()
    assert len(data) == length
    return data


def test_the_original_files_lack_the_new_fields(original):
    for doc in original.grid["fs.files"].find({}):
        assert "sha256" not in doc
        assert "contentType" not in doc


def test_list_models(original):
    for path in ("/model", "/model/"):
        response = requests.get(original(path))
        assert response.status_code == 200
        assert response.json() == [as_model(doc) for doc in MODELS]


def test_list_trained_models(original):
    response = requests.get(original("/model"), params={"trained": "true"})
    assert response.status_code == 200
    assert response.json() == [as_model(MODELS[0])]


def test_model_meta(original):
    for doc in MODELS[:3]:
        params = {"model_name": doc["model_name"], "model_version": doc["model_version"]}
        response = requests.get(original("/model/meta"), params=params)
        assert response.status_code == 200
        assert response.json() == as_model(doc)


def test_model_download(original, tmp_path):
    assert download(original("/model/mnist/1"), tmp_path) == MODEL_BYTES


def test_model_without_file_or_with_a_lost_one_is_404(original):
    assert_detail(requests.get(original("/model/mnist/2")), 404)
    assert_detail(requests.get(original("/model/mnist/3")), 404)


def test_available_files(original):
    response = requests.get(original("/models/available"))
    assert response.status_code == 200
    listing = response.json()
    assert listing == files_as_listed(original)
    assert [doc["filename"] for doc in listing] == [
        "model/mnist/1",
        "weights/mnist/1/cfg",
        "strategy/fedavg",
        f"transformation/{TRANSFORMATION}",
    ]
    assert all("sha256" not in doc and "_id" not in doc for doc in listing)


def test_shell_routes(original):
    weights = [doc for doc in files_as_listed(original) if doc["filename"] == "weights/mnist/1/cfg"]
    assert weights[0]["training_id"] == "run-1"
    for path in (
        "/models/download/shell/weights_mnist_1_cfg",
        "/models/download/shell/mnist/1/cfg",
    ):
        response = requests.get(original(path))
        assert response.status_code == 200
        assert response.json() == weights
    strategy = requests.get(original("/models/download/shell/strategy_fedavg")).json()
    assert [doc["filename"] for doc in strategy] == ["strategy/fedavg"]


def test_list_training_results(original):
    for path in ("/training-results", "/training-results/", "/training-results/mnist/1"):
        response = requests.get(original(path))
        assert response.status_code == 200
        assert response.json() == RESULTS


def test_weights_base64_and_raw(original, tmp_path):
    url = original("/training-results/weights/mnist/1/run-1")
    response = requests.get(url)
    assert response.status_code == 200
    assert "content-type" not in response.headers  # bare base64 text, as the original sent
    assert base64.b64decode(response.content, validate=True) == WEIGHTS_BYTES
    raw = download(url, tmp_path, headers={"Accept": "application/octet-stream"})
    assert raw == WEIGHTS_BYTES
    assert_detail(requests.get(original("/training-results/weights/mnist/1/run-2")), 404)


def test_strategies(original, tmp_path):
    response = requests.get(original("/strategy"))
    assert response.status_code == 200
    assert response.json() == STRATEGIES
    assert download(original("/strategy/fedavg"), tmp_path) == STRATEGY_BYTES
    assert_detail(requests.get(original("/strategy/bare")), 404)


def test_transformations(original, tmp_path):
    response = requests.get(original("/transformation"))
    assert response.status_code == 200
    expected = {k: v for k, v in TRANSFORMATIONS[0].items() if k != "storage_id"}
    assert response.json() == [expected]
    assert download(original(f"/transformation/{TRANSFORMATION}"), tmp_path) == (
        TRANSFORMATION_BYTES
    )


def test_graphql_reads_the_original_files(original):
    query = """{ model(modelName: "mnist", modelVersion: "1") {
        meta { library } file { id filename length sha256 contentType downloadUrl }
        trainingResults { trainingId weights { filename length } } } }"""
    body = requests.post(original("/graphql"), json={"query": query}).json()
    assert "errors" not in body, body
    model = body["data"]["model"]
    assert model["meta"] == {"library": "keras"}
    assert model["file"]["id"] == MODELS[0]["model_id"]
    assert model["file"]["filename"] == "model/mnist/1"
    assert model["file"]["length"] == len(MODEL_BYTES)
    assert model["file"]["sha256"] is None
    assert model["file"]["contentType"] is None
    assert requests.get(original(model["file"]["downloadUrl"])).content == MODEL_BYTES
    assert model["trainingResults"] == [
        {"trainingId": "run-1", "weights": {"filename": "weights/mnist/1/cfg", "length": 100_001}},
        {"trainingId": "run-2", "weights": None},
    ]


def test_replacing_and_deleting_an_original_file(original):
    """Written at test time, then deleted, so the other tests see the same data in any order."""
    old_id = GridFSBucket(original.grid).upload_from_stream("model/old/1", io.BytesIO(b"old"))
    original.db.models.insert_one(
        {"model_name": "old", "model_version": "1", "meta": None, "model_id": str(old_id)}
    )
    assert requests.get(original("/model/old/1")).content == b"old"

    assert_no_content(put_file(original("/model/old/1"), b"new model"))
    # The original's file is kept, untouched, as a revision until the model is deleted.
    assert original.grid["fs.files"].count_documents({"_id": old_id}) == 1
    assert original.db.file_revisions.count_documents({"file_id": str(old_id)}) == 1
    assert requests.get(original("/model/old/1")).content == b"new model"

    assert_no_content(requests.delete(original("/model/old/1")))
    assert original.grid["fs.files"].count_documents({"filename": "model/old/1"}) == 0
    assert original.grid["fs.chunks"].count_documents({"files_id": old_id}) == 0
    assert original.db.file_revisions.count_documents({}) == 0
    assert original.db.models.count_documents({"model_name": "old"}) == 0
