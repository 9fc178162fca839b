"""The sample archive: built without a database, in the exact layout of API.md §1."""

import io
import pickle
import subprocess
import sys
import zipfile

import bson
from bson import ObjectId
from flrepo.seed.archive import open_archive
from flrepo.seed.events import Documents
from flrepo.seed.sample.build import build_sample, sample_documents


def read(path) -> dict[str, list[dict]]:
    reader = open_archive(path)
    docs: dict[str, list[dict]] = {c.namespace: [] for c in reader.collections}
    for event in reader.events():
        if isinstance(event, Documents):
            docs[event.namespace] += [bson.decode(d) for d in event.documents]
    reader.close()
    return docs


def file_bytes(docs: dict[str, list[dict]], file_id: str) -> tuple[dict, bytes]:
    files = {f["_id"]: f for f in docs["repository_grid.fs.files"]}
    stored = files[ObjectId(file_id)]
    chunks = sorted(
        (c for c in docs["repository_grid.fs.chunks"] if c["files_id"] == stored["_id"]),
        key=lambda c: c["n"],
    )
    data = b"".join(c["data"] for c in chunks)
    assert len(data) == stored["length"]
    return stored, data


def test_command_line_writes_a_readable_archive(tmp_path):
    out = tmp_path / "sample.dump"
    done = subprocess.run(
        [sys.executable, "-m", "flrepo.seed.sample", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "6 namespaces" in done.stdout
    docs = read(out)
    assert sorted(docs) == [
        "repository.models",
        "repository.results",
        "repository.strategies",
        "repository.transformations",
        "repository_grid.fs.chunks",
        "repository_grid.fs.files",
    ]


def test_layout_matches_the_contract(tmp_path):
    out = tmp_path / "sample.dump.gz"
    build_sample(out, compress=True)
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    docs = read(out)

    models = {m["model_name"]: m for m in docs["repository.models"]}
    assert set(models) == {"base", "base2"}
    for name, model in models.items():
        assert set(model) == {"_id", "model_name", "model_version", "meta", "model_id"}
        assert model["meta"]["library"] == "keras"
        stored, data = file_bytes(docs, model["model_id"])
        assert stored["filename"] == f"model/{name}/{model['model_version']}"
        assert "config.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()

    (strategy,) = docs["repository.strategies"]
    assert strategy["strategy_name"] == "fault-tolerant-fedavg"
    stored, data = file_bytes(docs, strategy["strategy_id"])
    assert stored["filename"] == "strategy/fault-tolerant-fedavg"
    assert pickle.loads(data)["min_fit_clients"] == 2

    (transformation,) = docs["repository.transformations"]
    assert transformation["id"] == "application.tests.categorical_transformation"
    assert set(transformation["needs"]) == {
        "storage",
        "RAM",
        "GPU",
        "preinstalled_libraries",
        "available_models",
    }
    stored, data = file_bytes(docs, transformation["storage_id"])
    assert stored["filename"] == "transformation/application.tests.categorical_transformation"
    assert pickle.loads(data)["kind"] == "categorical"

    (result,) = docs["repository.results"]
    assert all(isinstance(v, str | int | float) for v in result["results"].values())
    stored, data = file_bytes(docs, result["weights_id"])
    assert stored["filename"] == (
        f"weights/{result['model_name']}/{result['model_version']}/{result['configuration_id']}"
    )
    assert stored["training_id"] == result["training_id"]
    assert pickle.loads(data)[0][0] == 0.25


def test_builds_are_reproducible(tmp_path):
    build_sample(tmp_path / "a.dump")
    build_sample(tmp_path / "b.dump")
    assert (tmp_path / "a.dump").read_bytes() == (tmp_path / "b.dump").read_bytes()
    assert sum(len(d) for d in sample_documents().values()) == 15
