"""A crash of the embedded database loses no acknowledged write, and the server restarts it."""

import hashlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
from bson import ObjectId
from pymongo import MongoClient

from flrepo import embedded

WRITERS = 8
OUTAGE_TIMEOUT_S = 60.0


@dataclass
class Ledger:
    """What the server answered 2xx to: created names, and the bytes each upload stored."""

    created: set[str] = field(default_factory=set)
    uploaded: dict[str, bytes] = field(default_factory=dict)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def writer(url: str, tag: str, ledger: Ledger, stop: threading.Event) -> None:
    """Create strategies and upload a file to each, one after another, until told to stop."""
    with httpx.Client(base_url=url, timeout=30) as client:
        k = 0
        while not stop.is_set():
            name = f"{tag}-{k}"
            k += 1
            try:
                response = client.post("/strategy", json={"strategy_name": name})
                if response.status_code != 201:
                    ledger.failures += 1
                    continue
                with ledger.lock:
                    ledger.created.add(name)
                data = os.urandom(300_000 + k)  # two chunks
                response = client.put(
                    f"/strategy/{name}", files={"file": ("s.pkl", data, "application/octet-stream")}
                )
                if response.status_code == 204:
                    with ledger.lock:
                        ledger.uploaded[name] = data
                else:
                    ledger.failures += 1
            except httpx.TransportError:
                ledger.failures += 1


def test_killing_the_database_loses_no_acknowledged_write(serve):
    server = serve()
    database = server.database_process()
    ledger = Ledger()
    stop = threading.Event()
    threads = [
        threading.Thread(target=writer, args=(server.url, f"w{i}", ledger, stop))
        for i in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(ledger.uploaded) < 40:
            assert time.monotonic() < deadline, "the writers made no progress"
            time.sleep(0.05)
        database.send_signal(signal.SIGKILL)
        database.wait(10)
        acknowledged_before_kill = len(ledger.created)

        # the server restarts the database, and writes succeed again
        deadline = time.monotonic() + OUTAGE_TIMEOUT_S
        while len(ledger.created) < acknowledged_before_kill + 40:
            assert server.proc.poll() is None, server.text()
            assert time.monotonic() < deadline, f"no writes after the kill:\n{server.text()}"
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    restarted = server.database_process()
    assert restarted.pid != database.pid
    assert "the embedded database exited with code -9; restarting it" in server.text()
    assert "the embedded database is back" in server.text()

    with MongoClient(server.database_url()) as mongo:
        strategies = {doc["strategy_name"]: doc for doc in mongo["repository"]["strategies"].find()}
        lost = ledger.created - strategies.keys()
        assert not lost, f"{len(lost)} of {len(ledger.created)} acknowledged creates were lost"
        files = mongo["repository_grid"]["fs.files"]
        for name, data in ledger.uploaded.items():
            stored = files.find_one({"_id": ObjectId(strategies[name]["strategy_id"])})
            assert stored is not None, f"the acknowledged upload to {name} was lost"
            assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    for name, data in list(ledger.uploaded.items())[:: max(1, len(ledger.uploaded) // 20)]:
        assert httpx.get(f"{server.url}/strategy/{name}", timeout=30).content == data


def test_the_database_stopped_a_while_is_waited_for(serve):
    server = serve()
    database = server.database_process()
    database.suspend()
    try:
        time.sleep(3)
        assert server.database_process().pid == database.pid  # not restarted over it
    finally:
        database.resume()
    response = httpx.post(f"{server.url}/strategy", json={"strategy_name": "after"}, timeout=30)
    assert response.status_code == 201
    assert "restarting" not in server.text()


def test_a_database_that_keeps_dying_makes_the_server_exit(monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "RESTART_BACKOFF_MAX_S", 0.01)
    monkeypatch.setattr(embedded, "MAX_RESTARTS", 2)
    signals: list[tuple[int, int]] = []
    monkeypatch.setattr(embedded.os, "kill", lambda pid, sig: signals.append((pid, sig)))
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    port = embedded.free_port()
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    supervisor = embedded.Supervisor(command, url, tmp_path / "db.log", ("127.0.0.1", port))
    supervisor.start()
    supervisor.join(30)
    assert not supervisor.is_alive()
    assert signals == [(os.getpid(), signal.SIGTERM)]
    assert supervisor.restarts == 0
    supervisor.stop()


def test_serve_exits_when_its_database_cannot_come_back(serve):
    server = serve()
    database = server.database_process()
    cmdline = database.cmdline()
    port = int(cmdline[cmdline.index("--port") + 1])
    database.send_signal(signal.SIGKILL)
    database.wait(10)
    with socket.socket() as squatter:  # the database's port, taken: it cannot start again
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code = server.proc.wait(300)
    assert code == 128 + signal.SIGTERM
    assert "the embedded database keeps exiting" in server.text()
    assert "giving up" in server.text()
