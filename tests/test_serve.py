"""Real processes: `flrepo serve` on the embedded database, and /readyz with the database gone."""

import fcntl
import hashlib
import os
import re
import signal
import socket
import subprocess
import time

import httpx
import psutil
import pytest
from helpers import running_app, upload_request
from pymongo import MongoClient
from serve_processes import (
    CREATE_MODEL,
    FLREPO,
    GET_MODEL_FILE,
    START_TIMEOUT_S,
    UPLOAD_MODEL,
)

from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping


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
