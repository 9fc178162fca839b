"""What scanning uploads for pickles costs: a large upload with and without it, in one run.

    python bench/pickle_scan.py                      # 256 MiB, in-memory SecantusDB
    python bench/pickle_scan.py --size-mib 1024 --rounds 5
    python bench/pickle_scan.py --mongodb-url mongodb://localhost:27017

Each kind of file is stored with FileStore.put (the upload path of both APIs, fed chunk by
chunk as the multipart reader feeds it) once with the scanner and once with a scanner that
does nothing, alternately, `--rounds` times; the best time of each is compared. The scanner
alone is also timed over the same bytes, and its peak memory measured with tracemalloc.
"""

import argparse
import asyncio
import contextlib
import io
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator

from flrepo.documents import files as files_module
from flrepo.documents.files import FileStore
from flrepo.documents.pickle_scan import FileScanner, Safety, Verdict
from pymongo import AsyncMongoClient

from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping

MIB = 1024 * 1024
PIECE = MIB  # what the multipart reader hands on at a time, at most


class NoScan:
    """The baseline: a scanner that looks at nothing."""

    def feed(self, chunk: bytes) -> None:
        pass

    def result(self) -> Safety:
        return Safety(Verdict.UNSCANNED)


class Source:
    content_type = "application/octet-stream"
    min_length = 0

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def chunks(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def split(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data), PIECE)]


def checkpoint(size: int, compression: int) -> bytes:
    """A PyTorch-layout zip: data.pkl naming the usual globals, then tensor storages."""
    pickled = (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x06\x00\x00\x00weightq\x02"
        b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04"
        b"ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07"
        b"K\x04tq\x08QK\x00K\x02K\x02\x86q\tK\x02K\x01\x86q\n\x89h\x00)Rq\x0btq\x0cRq\rs."
    )
    out = io.BytesIO()
    member = 16 * MIB
    with zipfile.ZipFile(out, "w", compression, compresslevel=1) as archive:
        archive.writestr("archive/data.pkl", pickled)
        for n in range(size // member):
            archive.writestr(f"archive/data/{n}", os.urandom(member // 2) + bytes(member // 2))
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def array_pickle(size: int) -> bytes:
    """A pickled array's worth of bytes: a protocol 4 pickle of one long bytes object."""
    return b"\x80\x04\x8e" + struct.pack("<Q", size) + os.urandom(size) + b"."


def payloads(size: int) -> Iterator[tuple[str, bytes]]:
    yield "PyTorch zip checkpoint, stored", checkpoint(size, zipfile.ZIP_STORED)
    yield "PyTorch zip checkpoint, deflated", checkpoint(size, zipfile.ZIP_DEFLATED)
    yield "one pickled array", array_pickle(size)
    yield "not a pickle (random bytes)", os.urandom(size)


async def store(store: FileStore, pieces: list[bytes], scanning: bool) -> float:
    files_module.FileScanner = FileScanner if scanning else NoScan  # type: ignore[misc]
    try:
        start = time.perf_counter()
        record = await store.put(f"bench/{uuid.uuid4().hex}", Source(pieces))
        elapsed = time.perf_counter() - start
    finally:
        files_module.FileScanner = FileScanner  # type: ignore[misc]
    await store.delete(record.id)
    return elapsed


def scan_alone(pieces: list[bytes]) -> tuple[float, int, str]:
    """Seconds to scan the bytes, peak bytes the scanner allocated, and its verdict."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        scanner = FileScanner()
        for piece in pieces:
            scanner.feed(piece)
        verdict = scanner.result().verdict.value
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak, verdict


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--storage-path", ":memory:", "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_for_ping(url, 60, proc)
        yield url
    finally:
        stop_process(proc)


async def run(args: argparse.Namespace, url: str) -> None:
    client: AsyncMongoClient = AsyncMongoClient(url)
    grid_name = f"bench_scan_{uuid.uuid4().hex[:8]}"
    files = FileStore(client[grid_name], max_bytes=1 << 40)
    size = args.size_mib * MIB
    print(f"{args.size_mib} MiB per file, {args.rounds} rounds, best time of each")
    print(f"{'file':36} {'without':>9} {'with':>9} {'ratio':>7} {'scan only':>12} {'peak':>9}")
    try:
        for name, data in payloads(size):
            pieces = split(data)
            del data
            best = {True: float("inf"), False: float("inf")}
            for _ in range(args.rounds):
                for scanning in (False, True):
                    best[scanning] = min(best[scanning], await store(files, pieces, scanning))
            alone, peak, verdict = scan_alone(pieces)
            rate = len(pieces) * PIECE / MIB / alone
            print(
                f"{name:36} {best[False]:8.2f}s {best[True]:8.2f}s "
                f"{best[True] / best[False]:7.3f} {rate:7.0f} MiB/s {peak / MIB:6.1f} MiB"
                f"  {verdict}"
            )
    finally:
        await client.drop_database(grid_name)
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="file size (256)")
    parser.add_argument("--rounds", type=int, default=3, help="uploads of each kind (3)")
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of an in-memory one")
    args = parser.parse_args()
    with database(args.mongodb_url) as url:
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
