"""REST behaviours every collection shares (API.md §3), once for each collection, against a
real server process. What only one collection does is tested in test_rest_<collection>.py."""

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from bson import ObjectId
from rest_fixtures import assert_created, assert_detail, assert_no_content, put_file

pytest_plugins = ["rest_fixtures"]

RAW = {"Accept": "application/octet-stream"}


def transformation(key: str) -> dict[str, Any]:
    return {"id": key, "description": "d", "outputs": ["o"], "needs": {"storage": 1.0}}


@dataclass(frozen=True)
class Kind:
    """One collection as the REST face shows it; `key` is what names an item of the test."""

    collection: str
    base: str  # the route that lists and creates
    key: Callable[[str], str]
    body: Callable[[str], dict[str, Any]]  # a create
    match: Callable[[str], dict[str, Any]]  # the stored item, as a MongoDB filter
    upload: Callable[[str], str]
    download: Callable[[str], str]
    delete: Callable[[str], str]
    file_field: str  # the stored item's field naming its GridFS file
    filename: Callable[[str], str]
    meta: tuple[Callable[[str], str], Callable[[str], dict[str, Any]]] | None = field(default=None)

    def create(self, server, uid: str, path: str | None = None) -> None:
        assert_created(requests.post(server(path or self.base), json=self.body(self.key(uid))))

    def count(self, server, uid: str) -> int:
        return server.db[self.collection].count_documents(self.match(self.key(uid)))


def weights(key: str) -> str:
    return f"/training-results/weights/{key}/1/run-1"


KINDS = {
    "models": Kind(
        collection="models",
        base="/model",
        key=lambda uid: uid,
        body=lambda key: {"model_name": key, "model_version": "1.0"},
        match=lambda key: {"model_name": key},
        upload=lambda key: f"/model/{key}/1.0",
        download=lambda key: f"/model/{key}/1.0",
        delete=lambda key: f"/model/{key}/1.0",
        file_field="model_id",
        filename=lambda key: f"model/{key}/1.0",
        meta=(lambda key: f"/model/meta/{key}/1.0", lambda key: {"library": "torch"}),
    ),
    "results": Kind(
        collection="results",
        base="/training-results",
        key=lambda uid: uid,
        body=lambda key: {"model_name": key, "model_version": "1", "training_id": "run-1"},
        match=lambda key: {"model_name": key},
        upload=lambda key: f"/training-results/{key}/1/run-1/cfg",
        download=weights,
        delete=lambda key: f"/training-results/{key}/1/run-1",
        file_field="weights_id",
        filename=lambda key: f"weights/{key}/1/cfg",
    ),
    "strategies": Kind(
        collection="strategies",
        base="/strategy",
        key=lambda uid: uid,
        body=lambda key: {"strategy_name": key},
        match=lambda key: {"strategy_name": key},
        upload=lambda key: f"/strategy/{key}",
        download=lambda key: f"/strategy/{key}",
        delete=lambda key: f"/strategy/{key}",
        file_field="strategy_id",
        filename=lambda key: f"strategy/{key}",
        meta=(lambda key: f"/strategy/meta/{key}", lambda key: {"meta": {"a": "b"}}),
    ),
    "transformations": Kind(
        collection="transformations",
        base="/transformation",
        key=lambda uid: f"application.tests.{uid}",
        body=transformation,
        match=lambda key: {"id": key},
        upload=lambda key: f"/transformation/{key}",
        download=lambda key: f"/transformation/{key}",
        delete=lambda key: f"/transformation/{key}",
        file_field="storage_id",
        filename=lambda key: f"transformation/{key}",
        meta=(lambda key: f"/transformation/meta/{key}", transformation),
    ),
}
WITH_META = [name for name, kind in KINDS.items() if kind.meta]


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture(params=WITH_META)
def kind_with_meta(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


def test_create_with_a_trailing_slash(rest_server, uid, kind):
    kind.create(rest_server, uid, path=kind.base + "/")
    assert kind.count(rest_server, uid) == 1


def test_upload_for_an_unknown_item_is_404_and_stores_nothing(rest_server, uid, kind):
    before = rest_server.snapshot()
    response = put_file(rest_server(kind.upload(kind.key(uid))), b"orphan")
    assert uid in assert_detail(response, 404)
    assert rest_server.snapshot() == before


def test_update_meta_of_an_unknown_item_is_404(rest_server, uid, kind_with_meta):
    path, body = kind_with_meta.meta
    key = kind_with_meta.key(uid)
    before = rest_server.snapshot()
    assert_detail(requests.put(rest_server(path(key)), json=body(key)), 404)
    assert rest_server.snapshot() == before


def test_download_streams_the_bytes(rest_server, uid, kind, tmp_path):
    key = kind.key(uid)
    kind.create(rest_server, uid)
    data = os.urandom(3 * 1024 * 1024 + 12_345)  # several GridFS chunks, the last one partial
    assert_no_content(put_file(rest_server(kind.upload(key)), data, "upload.bin"))

    stored = rest_server.db[kind.collection].find_one(kind.match(key))
    assert isinstance(stored[kind.file_field], str)
    record = rest_server.grid["fs.files"].find_one({"_id": ObjectId(stored[kind.file_field])})
    assert record["filename"] == kind.filename(key)
    assert record["length"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()

    target = tmp_path / "download"
    with requests.get(rest_server(kind.download(key)), headers=RAW, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        with target.open("wb") as f:
            shutil.copyfileobj(response.raw, f)
    assert target.read_bytes() == data


@pytest.mark.parametrize("headers", [{}, RAW], ids=["default", "raw"])
def test_download_of_an_unknown_item_is_404(rest_server, uid, kind, headers):
    assert_detail(requests.get(rest_server(kind.download(kind.key(uid))), headers=headers), 404)


@pytest.mark.parametrize("headers", [{}, RAW], ids=["default", "raw"])
def test_download_of_an_item_without_file_is_404(rest_server, uid, kind, headers):
    kind.create(rest_server, uid)
    assert_detail(requests.get(rest_server(kind.download(kind.key(uid))), headers=headers), 404)


def test_uploading_again_replaces_the_old_file_and_keeps_it_as_a_revision(rest_server, uid, kind):
    key = kind.key(uid)
    kind.create(rest_server, uid)
    put_file(rest_server(kind.upload(key)), b"first").raise_for_status()
    match = kind.match(key)
    first = rest_server.db[kind.collection].find_one(match)[kind.file_field]
    assert_no_content(put_file(rest_server(kind.upload(key)), b"second"))

    second = rest_server.db[kind.collection].find_one(match)[kind.file_field]
    assert second != first
    files = list(rest_server.grid["fs.files"].find({"filename": kind.filename(key)}))
    assert sorted(str(f["_id"]) for f in files) == sorted([first, second])
    assert rest_server.db["file_revisions"].find_one({"file_id": first})["field"] == kind.file_field
    response = requests.get(rest_server(kind.download(key)), headers=RAW)
    assert response.content == b"second"


def test_delete_removes_metadata_and_file(rest_server, uid, kind):
    key = kind.key(uid)
    kind.create(rest_server, uid)
    put_file(rest_server(kind.upload(key)), os.urandom(300_000)).raise_for_status()
    stored = rest_server.db[kind.collection].find_one(kind.match(key))
    file_id = ObjectId(stored[kind.file_field])

    assert_no_content(requests.delete(rest_server(kind.delete(key))))
    assert kind.count(rest_server, uid) == 0
    assert rest_server.grid["fs.files"].count_documents({"_id": file_id}) == 0
    assert rest_server.grid["fs.chunks"].count_documents({"files_id": file_id}) == 0
    assert_detail(requests.get(rest_server(kind.download(key))), 404)


def test_delete_of_an_item_without_file(rest_server, uid, kind):
    kind.create(rest_server, uid)
    assert_no_content(requests.delete(rest_server(kind.delete(kind.key(uid)))))
    assert kind.count(rest_server, uid) == 0


def test_delete_of_an_unknown_item_is_404(rest_server, uid, kind):
    before = rest_server.snapshot()
    assert_detail(requests.delete(rest_server(kind.delete(kind.key(uid)))), 404)
    assert rest_server.snapshot() == before
