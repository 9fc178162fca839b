"""Real processes: `flrepo serve` on the embedded database, and /readyz with the database gone."""

import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import FILE_FIELDS, running_app, split, upload_request
from pymongo import MongoClient

from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping

FLREPO = str(Path(sys.executable).parent / "flrepo")
START_TIMEOUT_S = 60.0

CREATE_MODEL = 'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }'
UPLOAD_MODEL = (
    'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", file: $file) '
    f"{{ file {{ {FILE_FIELDS} }} }} }}"
)
GET_MODEL_FILE = f'{{ model(modelName: "m", modelVersion: "1") {{ file {{ {FILE_FIELDS} }} }} }}'


def server_env() -> dict[str, str]:
    """This environment without any setting that would point the server elsewhere."""
    names = {"HOST", "PORT", "DB_ADDRESS", "DB_PORT"}
    return {k: v for k, v in os.environ.items() if not k.startswith("FLREPO_") and k not in names}


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    data_dir: Path
    output: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"flrepo serve exited with {self.proc.returncode}:\n{self.text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"flrepo serve did not become healthy:\n{self.text()}")

    def database_process(self) -> psutil.Process:
        """The embedded SecantusDB child of this server."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        found = [c for c in children if "secantusd" in " ".join(c.cmdline())]
        assert len(found) == 1, children
        return found[0]

    def database_url(self) -> str:
        cmdline = self.database_process().cmdline()
        port = cmdline[cmdline.index("--port") + 1]
        return f"mongodb://127.0.0.1:{port}/?directConnection=true"

    def graphql(self, query: str, **variables) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def upload(self, data: bytes) -> dict:
        headers, chunks = upload_request(UPLOAD_MODEL, {}, split(data, 1 << 20))
        response = httpx.post(f"{self.url}/graphql", content=chunks, headers=headers, timeout=60)
        body = response.json()
        assert "errors" not in body, body
        return body["data"]["uploadModelFile"]["file"]

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 30) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout_s)


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., Server]]:
    """Starts `flrepo serve` processes; whatever is still running at the end is stopped."""
    started: list[Server] = []

    def start(data_dir: Path | None = None, wait: bool = True) -> Server:
        data_dir = data_dir or tmp_path / "data"
        port = free_port()
        output = tmp_path / f"serve-{len(started)}.log"
        with output.open("wb") as out:
            proc = subprocess.Popen(
                [FLREPO, "serve", "--port", str(port), "--data-dir", str(data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=server_env(),
            )
        server = Server(proc, port, data_dir, output)
        started.append(server)
        if wait:
            server.wait_until_healthy()
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.terminate()
            try:
                server.proc.wait(30)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()


def test_data_and_files_survive_a_restart(serve, tmp_path):
    first = serve()
    first.graphql(CREATE_MODEL)
    data = os.urandom(3 * 1024 * 1024 + 17)
    uploaded = first.upload(data)
    assert uploaded["sha256"] == hashlib.sha256(data).hexdigest()
    assert first.stop(signal.SIGINT) == 128 + signal.SIGINT

    second = serve(first.data_dir)
    file = second.graphql(GET_MODEL_FILE)["model"]["file"]
    assert file == uploaded
    response = httpx.get(second.url + file["downloadUrl"], timeout=30)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["etag"] == f'"{uploaded["sha256"]}"'


def test_second_server_on_the_same_data_dir_is_refused(serve):
    first = serve()
    second = serve(first.data_dir, wait=False)
    assert second.proc.wait(30) != 0
    message = second.text()
    assert "in use" in message
    assert str(first.data_dir.resolve()) in message
    assert f"pid {first.proc.pid}" in message
    assert "Traceback" not in message
    # the first one goes on serving, with its database
    assert httpx.get(f"{first.url}/readyz", timeout=10).status_code == 200
    first.graphql(CREATE_MODEL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_embedded_database_stops_with_the_server(serve, sig):
    server = serve()
    database = server.database_process()
    assert database.is_running()
    assert server.stop(sig) == 128 + sig  # the shell's code for "ended by this signal"
    # the server stopped its database before it exited, not merely at the same time
    try:
        status = database.status()
    except psutil.NoSuchProcess:
        status = None
    assert status in (None, psutil.STATUS_ZOMBIE)
    assert "Traceback" not in server.text()
    # the data dir is free again
    with (server.data_dir / "flrepo.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_upload_cut_off_by_a_closed_socket_leaves_the_old_file(serve):
    server = serve()
    server.graphql(CREATE_MODEL)
    old_data = os.urandom(300_000)
    old = server.upload(old_data)

    # PyMongo writes chunks in batches of up to 48 MB: send more, so some reach the database
    size = 64 * 1024 * 1024
    headers, chunks = upload_request(UPLOAD_MODEL, {}, b"")
    body = b"".join(chunks)
    file_start = body.index(b"\r\n\r\n", body.index(b'name="0"')) + 4
    head, tail = body[:file_start], body[file_start:]
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {headers['Content-Type']}"
        f"\r\nContent-Length: {len(head) + size + len(tail)}\r\n\r\n"
    ).encode()

    with MongoClient(server.database_url()) as mongo:
        grid = mongo["repository_grid"]
        before = (grid["fs.files"].count_documents({}), grid["fs.chunks"].count_documents({}))
        assert before == (1, 2)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request + head)
            piece = os.urandom(1 << 20)
            for _ in range(50):  # 50 of 64 MiB
                sock.sendall(piece)
            deadline = time.monotonic() + 30
            while grid["fs.chunks"].count_documents({}) <= before[1]:
                assert time.monotonic() < deadline, "no chunk of the upload reached the database"
                time.sleep(0.05)
        # the socket is closed: the server must remove what it wrote
        deadline = time.monotonic() + 30
        while (
            grid["fs.files"].count_documents({}),
            grid["fs.chunks"].count_documents({}),
        ) != before:
            assert time.monotonic() < deadline, "the partial upload was not removed"
            time.sleep(0.05)
        chunk_owners = grid["fs.chunks"].distinct("files_id")
        assert [str(owner) for owner in chunk_owners] == [old["id"]]

    assert server.graphql(GET_MODEL_FILE)["model"]["file"] == old
    assert httpx.get(server.url + old["downloadUrl"], timeout=30).content == old_data
    assert server.proc.poll() is None


async def test_readyz_is_503_while_the_database_is_down(settings, tmp_path):
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--storage-path", ":memory:", "--log-level", "WARNING"]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_for_ping(url, START_TIMEOUT_S, proc)
        async with running_app(settings, url) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready"}

            stop_process(proc)
            started = time.monotonic()
            down = await client.get("/readyz")
            assert time.monotonic() - started < 4.5  # inside the chart's 5 s probe timeout
            assert down.status_code == 503
            assert down.json() == {"status": "database unavailable"}  # no internal addresses
            assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        stop_process(proc)


def test_serve_help_names_the_options():
    result = subprocess.run(
        [FLREPO, "serve", "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    for option in ("--port", "--host", "--data-dir", "--mongodb-url"):
        assert re.search(rf"{option}\b", result.stdout), option
