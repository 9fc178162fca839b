"""The embedded database's memory while a large file is uploaded (REST, tus) and downloaded.

    python bench/database_memory.py                      # 1024 MiB, embedded database
    python bench/database_memory.py --size-mib 256 --patch-mib 32

Starts `flrepo serve` on the embedded database (SecantusDB, its child process) and samples
that child's resident memory every 50 ms: just before, at its peak during, and a second
after a REST `PUT` of the file (multipart), then a full download of it; then the same on a
fresh server with a tus upload (PATCHes of `--patch-mib`). The bodies are generated as they
are sent, so the bench never holds the file. The goal: the database grows by at most 300 MB
during each.
"""

import argparse
import base64
import contextlib
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
from upload_download import MIB, start_server, stop_server

GOAL_MB = 300
PIECE = MIB


class Rss(threading.Thread):
    """Samples one process's resident memory every `interval_s`; keeps the peak."""

    def __init__(self, process: psutil.Process, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.interval_s = interval_s
        self.peak = 0
        self._done = threading.Event()

    def now(self) -> int:
        with contextlib.suppress(psutil.NoSuchProcess):
            return self.process.memory_info().rss
        return 0

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join()


def database_process(server_pid: int) -> psutil.Process:
    """The embedded database that the server started: its child running secantusd."""
    for child in psutil.Process(server_pid).children(recursive=True):
        if any("secantusd" in part for part in child.cmdline()):
            return child
    sys.exit("no embedded database found; this bench runs on the embedded database")


class Generated:
    """`size` bytes made as they are read (piece i is i, then a fixed random block), hashed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.block = os.urandom(PIECE)
        self.digest = hashlib.sha256()

    def pieces(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from `start` to `end`, a piece at a time (`start` at a piece boundary)."""
        end = self.size if end is None else end
        for offset in range(start, end, PIECE):
            n = offset // PIECE
            piece = (n.to_bytes(8, "big") + self.block[8:])[: min(PIECE, end - offset)]
            self.digest.update(piece)
            yield piece


def multipart(source: Generated, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from source.pieces()
    yield f"\r\n--{boundary}--\r\n".encode()


def put(client: httpx.Client, version: str, source: Generated) -> None:
    boundary = "bench" + os.urandom(8).hex()
    response = client.put(
        f"/model/bench/{version}",
        content=multipart(source, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    response.raise_for_status()


def tus(client: httpx.Client, version: str, source: Generated, patch: int) -> None:
    metadata = {"kind": "model", "model_name": "bench", "model_version": version}
    encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())
    tus_headers = {"Tus-Resumable": "1.0.0"}
    created = client.post(
        "/uploads/",
        headers={**tus_headers, "Upload-Length": str(source.size), "Upload-Metadata": encoded},
    )
    created.raise_for_status()
    location = created.headers["location"]
    for offset in range(0, source.size, patch):
        end = min(offset + patch, source.size)
        response = client.patch(
            location,
            content=source.pieces(offset, end),
            headers={
                **tus_headers,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(end - offset),
            },
        )
        response.raise_for_status()


def download(client: httpx.Client, version: str) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", f"/model/bench/{version}") as response:
        response.raise_for_status()
        for piece in response.iter_raw():
            digest.update(piece)
    return digest.hexdigest()


def stored_sha256(client: httpx.Client, version: str) -> str:
    return client.head(f"/model/bench/{version}").headers["etag"].strip('"')


Row = tuple[int, int, int, float]  # RSS before, at the peak, a second after; seconds


def measure(database: psutil.Process, step: Callable[[], object]) -> Row:
    """The database's RSS before `step`, at its peak until a second after, and then; the
    seconds `step` took."""
    sampler = Rss(database)
    before = sampler.now()
    sampler.start()
    start = time.perf_counter()
    try:
        step()
        elapsed = time.perf_counter() - start
        time.sleep(1)  # what it writes out once the request is answered counts too
    finally:
        sampler.stop()
    after = sampler.now()
    return before, max(sampler.peak, before, after), after, elapsed


def run(args: argparse.Namespace, kind: str, data_dir: Path) -> list[tuple[str, Row]]:
    """On a fresh server: one upload of `kind` (PUT or tus), then a download of it."""
    size = args.size_mib * MIB
    proc, url, _ = start_server(args, data_dir)
    try:
        database = database_process(proc.pid)
        with httpx.Client(base_url=url, timeout=3600) as client:
            client.post("/model", json={"model_name": "bench", "model_version": "1"})
            time.sleep(1)
            source = Generated(size)
            if kind == "PUT":
                sent = measure(database, lambda: put(client, "1", source))
            else:
                patch = args.patch_mib * MIB
                sent = measure(database, lambda: tus(client, "1", source, patch))
            expected = source.digest.hexdigest()
            assert stored_sha256(client, "1") == expected, f"the {kind} stored other bytes"
            got: list[str] = []
            received = measure(database, lambda: got.append(download(client, "1")))
            assert got == [expected], "the download differs from the upload"
    finally:
        stop_server(proc, None, None)
    return [(f"REST {kind}" if kind == "PUT" else kind, sent), ("  download", received)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (1024)")
    parser.add_argument("--patch-mib", type=int, default=64, help="tus PATCH size (64)")
    args = parser.parse_args()
    args.mongodb_url = None
    rows: list[tuple[str, Row]] = []
    for kind in ("PUT", "tus"):
        with tempfile.TemporaryDirectory(prefix="flrepo-bench-") as tmp:
            rows += run(args, kind, Path(tmp))

    print(f"file: {args.size_mib} MiB, embedded SecantusDB; its RSS sampled every 50 ms")
    print(f"{'':10} {'before':>10} {'peak':>10} {'after':>10} {'growth':>10} {'MB/s':>7}")
    worst = 0
    for name, (before, peak, after, elapsed) in rows:
        growth = peak - before
        worst = max(worst, growth)
        print(
            f"{name:10} {before / MIB:6.1f} MiB {peak / MIB:6.1f} MiB {after / MIB:6.1f} MiB "
            f"{growth / 1e6:+7.0f} MB {args.size_mib * MIB / 1e6 / elapsed:7.1f}"
        )
    verdict = "within" if worst <= GOAL_MB * 1e6 else "OVER"
    print(f"largest growth: {worst / 1e6:.0f} MB, {verdict} the goal of {GOAL_MB} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
