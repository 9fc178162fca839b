"""`flrepo serve` processes on their embedded database, started by the `serve` fixture."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import FILE_FIELDS, split, upload_request

from flrepo.embedded import free_port

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
