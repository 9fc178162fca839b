"""The seed examples as documents: two Keras-like models, a strategy, a transformation, a result.

Everything is deterministic (fixed ids and dates), so the archive is the same on every build.
"""

import datetime
import gzip
import hashlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import bson
from bson import Binary, ObjectId
from flrepo.documents.chunk_writer import CHUNK_SIZE
from flrepo.seed.archive import ArchiveWriter
from flrepo.seed.metadata import CollectionInfo, metadata_json

DB = "repository"
GRID_DB = "repository_grid"
UPLOADED = datetime.datetime(2024, 5, 6, 12, 0, 0, tzinfo=datetime.UTC)


def _object_id(label: str) -> ObjectId:
    """A stable ObjectId: the upload time, then bytes derived from `label`."""
    stamp = int(UPLOADED.timestamp()).to_bytes(4, "big")
    return ObjectId(stamp + hashlib.sha256(label.encode()).digest()[:8])


def keras_like_model(name: str, layers: list[int]) -> bytes:
    """A small zip in the shape of a saved Keras model: config, metadata and weights."""
    config = {
        "class_name": "Sequential",
        "config": {
            "name": name,
            "layers": [
                {"class_name": "Dense", "config": {"units": units, "activation": "relu"}}
                for units in layers
            ],
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in (
            ("config.json", bson.json_util.dumps(config)),
            ("metadata.json", '{"keras_version": "2.15.0"}'),
            ("model.weights.h5", bytes(range(256)) * 4),
        ):
            info = zipfile.ZipInfo(member, date_time=(2024, 5, 6, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


class _Grid:
    """fs.files and fs.chunks documents as GridFS writes them."""

    def __init__(self) -> None:
        self.files: list[dict[str, Any]] = []
        self.chunks: list[dict[str, Any]] = []

    def put(self, filename: str, data: bytes, **extra: Any) -> str:
        file_id = _object_id(filename)
        self.files.append(
            {
                "_id": file_id,
                "filename": filename,
                "chunkSize": CHUNK_SIZE,
                "length": len(data),
                "uploadDate": UPLOADED,
                **extra,
            }
        )
        for n, start in enumerate(range(0, len(data), CHUNK_SIZE)):
            self.chunks.append(
                {
                    "_id": _object_id(f"{filename}#{n}"),
                    "files_id": file_id,
                    "n": n,
                    "data": Binary(data[start : start + CHUNK_SIZE]),
                }
            )
        return str(file_id)


def sample_documents() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every document of the sample, by (database, collection), in API.md §1's layout."""
    grid = _Grid()
    models = [
        {
            "_id": _object_id(f"models/{name}/{version}"),
            "model_name": name,
            "model_version": version,
            "meta": {"library": "keras", "description": description},
            "model_id": grid.put(f"model/{name}/{version}", keras_like_model(name, layers)),
        }
        for name, version, description, layers in (
            ("base", "1", "Dense classifier, the seed example", [32, 10]),
            ("base2", "1", "A second, wider seed model", [64, 32, 10]),
        )
    ]
    weights = pickle.dumps([[0.25, -0.5, 0.125], [1.0, 0.0, -1.0]], protocol=4)
    results = [
        {
            "_id": _object_id("results/base/1/1"),
            "model_name": "base",
            "model_version": "1",
            "training_id": "1",
            "configuration_id": "fedavg-3-rounds",
            "results": {"rounds": "3", "accuracy": "0.24", "loss": 2.1},
            "weights_id": grid.put("weights/base/1/fedavg-3-rounds", weights, training_id="1"),
        }
    ]
    strategy_object = {
        "name": "FaultTolerantFedAvg",
        "min_fit_clients": 2,
        "min_available_clients": 2,
        "min_completion_rate_fit": 0.5,
    }
    strategies = [
        {
            "_id": _object_id("strategies/fault-tolerant-fedavg"),
            "strategy_name": "fault-tolerant-fedavg",
            "strategy_description": "FedAvg that tolerates failed clients",
            "meta": {"framework": "flwr", "rounds": "3"},
            "strategy_id": grid.put(
                "strategy/fault-tolerant-fedavg", pickle.dumps(strategy_object, protocol=4)
            ),
        }
    ]
    transformation_id = "application.tests.categorical_transformation"
    transformation_object = {
        "kind": "categorical",
        "categories": {"colour": ["red", "green", "blue"]},
    }
    transformations = [
        {
            "_id": _object_id(f"transformations/{transformation_id}"),
            "id": transformation_id,
            "description": "One-hot encodes categorical columns",
            "parameter_types": {"columns": "list", "drop_first": "bool"},
            "default_values": {"columns": ["colour"], "drop_first": False},
            "outputs": ["encoded"],
            "needs": {
                "storage": 1,
                "RAM": 1,
                "GPU": False,
                "preinstalled_libraries": {"pandas": "2.1"},
                "available_models": {},
            },
            "storage_id": grid.put(
                f"transformation/{transformation_id}",
                pickle.dumps(transformation_object, protocol=4),
            ),
        }
    ]
    return {
        (DB, "models"): models,
        (DB, "results"): results,
        (DB, "strategies"): strategies,
        (DB, "transformations"): transformations,
        (GRID_DB, "fs.files"): grid.files,
        (GRID_DB, "fs.chunks"): grid.chunks,
    }


ID_INDEX = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
INDEXES: dict[str, list[dict[str, Any]]] = {
    "fs.files": [
        ID_INDEX,
        {"v": 2, "key": {"filename": 1, "uploadDate": 1}, "name": "filename_1_uploadDate_1"},
    ],
    "fs.chunks": [
        ID_INDEX,
        {"v": 2, "key": {"files_id": 1, "n": 1}, "name": "files_id_1_n_1", "unique": True},
    ],
}


def build_sample(out: Path, compress: bool = False) -> dict[str, int]:
    """Write the sample archive to `out`; returns the document count of each namespace."""
    documents = sample_documents()
    encoded = {key: [bson.encode(doc) for doc in docs] for key, docs in documents.items()}
    infos = [
        CollectionInfo(
            db,
            collection,
            metadata_json(collection, INDEXES.get(collection, [ID_INDEX])),
            sum(len(raw) for raw in encoded[(db, collection)]),
        )
        for db, collection in documents
    ]
    with out.open("wb") as raw_file:
        stream = gzip.GzipFile(fileobj=raw_file, mode="wb", mtime=0) if compress else raw_file
        writer = ArchiveWriter(stream, infos, tool_version="seed.sample")
        for (db, collection), raws in encoded.items():
            writer.write(db, collection, raws)
            writer.end(db, collection)
        writer.finish()
        if compress:
            stream.close()
    return {f"{db}.{collection}": len(docs) for (db, collection), docs in documents.items()}
