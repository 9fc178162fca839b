"""A real `flrepo serve` process for the REST tests, and what they check its answers with.

Test modules load these fixtures with `pytest_plugins = ["rest_fixtures"]` and import the
helpers, so the module is imported before pytest could rewrite its asserts: they carry their
own messages instead (PYTEST_DONT_REWRITE).
"""

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pymongo import MongoClient
from pymongo.database import Database

# The embedded database is started the same way: stopped should the test run be killed.
from flrepo.embedded import _die_with_parent, free_port, stop_process

START_TIMEOUT_S = 60.0
SMALL_UPLOAD_LIMIT = 100_000
COLLECTIONS = ("models", "results", "strategies", "transformations")


def flrepo_command() -> str:
    """The `flrepo` script of this environment."""
    beside = Path(sys.executable).parent / "flrepo"
    found = str(beside) if beside.exists() else shutil.which("flrepo")
    assert found, "the flrepo command is not installed (pip install -e .)"
    return found


@dataclass(frozen=True)
class Server:
    """A running server, and direct access to the two databases it serves."""

    url: str
    db: Database
    grid: Database
    log: Path

    def __call__(self, path: str) -> str:
        """The absolute URL of `path`."""
        return self.url + path

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored document, metadata and GridFS, to show that a request wrote nothing."""
        state = {name: list(self.db[name].find({}).sort("_id", 1)) for name in COLLECTIONS}
        state["fs.files"] = list(self.grid["fs.files"].find({}).sort("_id", 1))
        # GridFS never rewrites a chunk in place, so chunks without their bytes show every change.
        state["fs.chunks"] = list(self.grid["fs.chunks"].find({}, {"data": 0}).sort("_id", 1))
        return state


@contextlib.contextmanager
def running_server(
    client: MongoClient,
    mongodb_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    prepare: Callable[[Database, Database], None] | None = None,
) -> Iterator[Server]:
    """`flrepo serve` on a free port and two fresh databases, stopped and dropped after.

    `prepare` gets the two databases before the server starts, to put data there first.
    """
    tag = uuid.uuid4().hex[:12]
    db, grid = client[f"rest{tag}"], client[f"rest{tag}_grid"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = log_dir / f"flrepo-{port}.log"
    environ = {
        **os.environ,
        "FLREPO_DB_NAME": db.name,
        "FLREPO_GRID_DB_NAME": grid.name,
        **(env or {}),
    }
    command = [flrepo_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    try:
        if prepare is not None:
            prepare(db, grid)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*command, "--mongodb-url", mongodb_url],
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        try:
            _wait_for_health(url, proc, log)
            yield Server(url, db, grid, log)
        finally:
            stop_process(proc)
    finally:
        client.drop_database(db.name)
        client.drop_database(grid.name)


def _wait_for_health(url: str, proc: subprocess.Popen, log: Path) -> None:
    """Until the server answers, and has ranked what was written behind its back (until
    then `GET /model?trained=true` asks to retry with a 503: operations/readiness.py)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    path = "/healthz"
    while True:
        if proc.poll() is not None:
            pytest.fail(f"flrepo serve exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(requests.ConnectionError):
            status = requests.get(url + path, timeout=2).status_code
            if path == "/healthz" and status == 200:
                path = "/model?trained=true"
            elif path != "/healthz" and status != 503:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"flrepo serve did not answer /healthz:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def sync_mongo(mongodb_url: str) -> Iterator[MongoClient]:
    """A PyMongo client of the tests' own, to look at and write the stored data directly."""
    client: MongoClient = MongoClient(mongodb_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rest_server(
    sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server for the REST contract tests; each test uses names of its own."""
    with running_server(sync_mongo, mongodb_url, tmp_path_factory.mktemp("rest")) as server:
        yield server


@pytest.fixture(scope="session")
def limited_server(
    sync_mongo: MongoClient, mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server that refuses uploads over SMALL_UPLOAD_LIMIT bytes."""
    env = {"FLREPO_MAX_UPLOAD_BYTES": str(SMALL_UPLOAD_LIMIT)}
    with running_server(sync_mongo, mongodb_url, tmp_path_factory.mktemp("limited"), env) as s:
        yield s


@pytest.fixture
def uid() -> str:
    """A name no other test uses."""
    return "t" + uuid.uuid4().hex[:10]


def assert_detail(response: requests.Response, status: int) -> str:
    """A FastAPI-style error: the status, and `{"detail": "message"}`; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["detail"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    return body["detail"]


def assert_invalid(response: requests.Response) -> list[dict[str, Any]]:
    """FastAPI's 422: `{"detail": [{"loc": [...], "msg": "...", "type": "..."}, ...]}`."""
    assert response.status_code == 422, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["detail"], body
    errors = body["detail"]
    assert isinstance(errors, list), body
    assert errors, body
    for error in errors:
        assert {"loc", "msg", "type"} <= set(error), error
        assert isinstance(error["loc"], list), error
        assert error["loc"], error
        assert isinstance(error["msg"], str), error
        assert isinstance(error["type"], str), error
    return errors


def assert_client_error(response: requests.Response) -> None:
    """Some 4xx in FastAPI's shape: a list of errors for 422, a message otherwise."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if response.status_code == 422:
        assert_invalid(response)
    else:
        assert_detail(response, response.status_code)


def assert_created(response: requests.Response) -> None:
    """201 with the JSON body `null`, as the original answers a create."""
    assert response.status_code == 201, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.content == b"null"


def assert_no_content(response: requests.Response) -> None:
    assert response.status_code == 204, (response.status_code, response.text)
    assert response.content == b""


def put_file(url: str, data: bytes, filename: str = "upload.bin") -> requests.Response:
    """A multipart upload in the form field `file`, as the FL components send it."""
    return requests.put(url, files={"file": (filename, data, "application/octet-stream")})


def without_id(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in doc.items() if k != "_id"} for doc in docs]


def mine(listing: list[dict[str, Any]], key: str, value: str) -> list[dict[str, Any]]:
    """The entries of a listing that belong to the test (the server is shared)."""
    return [entry for entry in listing if entry.get(key) == value]
