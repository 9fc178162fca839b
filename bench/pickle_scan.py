"""What scanning uploads for pickles costs: a large upload with and without it, in one run.

    python bench/pickle_scan.py                      # 256 MiB, embedded database
    python bench/pickle_scan.py --size-mib 1024 --rounds 5
    python bench/pickle_scan.py --mongodb-url mongodb://localhost:27017

Each kind of file is stored with FileStore.put (the upload path of both APIs, fed chunk by
chunk as the multipart reader feeds it) once with the scanner and once with a scanner that
does nothing, alternately, `--rounds` times; the best time of each is compared. The scanner
alone is also timed over the same bytes (and given as a share of the upload time without
it, a figure the database's ups and downs do not blur), and its peak memory measured with
tracemalloc.
"""

import argparse
import asyncio
import contextlib
import io
import os
import pickle
import struct
import sys
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from flrepo.documents import files as files_module
from flrepo.documents.files import FileStore
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from pymongo import AsyncMongoClient

from flrepo.embedded import embedded_database

MIB = 1024 * 1024
PIECE = MIB  # what the multipart reader hands on at a time, at most


class NoScan:
    """The baseline: a scanner that looks at nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

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


def floats(size: int) -> bytes:
    """A pickled list of floats: a BINFLOAT opcode every 9 bytes."""
    return pickle.dumps([i * 0.5 for i in range(size // 9)], protocol=4)


def small_dicts(size: int) -> bytes:
    """The worst case for the walk: many small dicts, a few bytes per opcode."""
    return pickle.dumps([{"a": i, "b": [1.0, None]} for i in range(size // 25)], protocol=4)


KINDS = {
    "stored": ("PyTorch zip checkpoint, stored", lambda n: checkpoint(n, zipfile.ZIP_STORED)),
    "deflated": ("PyTorch zip checkpoint, deflated", lambda n: checkpoint(n, zipfile.ZIP_DEFLATED)),
    "array": ("one pickled array", array_pickle),
    "random": ("not a pickle (random bytes)", os.urandom),
    "floats": ("a list of floats", floats),
    "dicts": ("many small dicts, 1/64 size", lambda n: small_dicts(n // 64)),
}


def payloads(size: int, kinds: list[str]) -> Iterator[tuple[str, bytes]]:
    for kind in kinds:
        name, make = KINDS[kind]
        yield name, make(size)


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
    """Seconds to scan the bytes, peak bytes the scanner allocated (a second pass), verdict."""
    start = time.perf_counter()
    scanner = FileScanner()
    for piece in pieces:
        scanner.feed(piece)
    verdict = scanner.result().verdict.value
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    try:
        scanner = FileScanner()
        for piece in pieces:
            scanner.feed(piece)
        scanner.result()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak, verdict


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """The given MongoDB, or the embedded database in a temporary folder."""
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory() as folder, embedded_database(Path(folder)) as url:
        yield url


async def run(args: argparse.Namespace, url: str) -> None:
    client: AsyncMongoClient = AsyncMongoClient(url)
    grid_name = f"bench_scan_{uuid.uuid4().hex[:8]}"
    files = FileStore(client[grid_name], max_bytes=1 << 40)
    size = args.size_mib * MIB
    print(f"{args.size_mib} MiB per file, {args.rounds} rounds, best time of each")
    print(
        f"{'file':36} {'without':>9} {'with':>9} {'ratio':>6}"
        f" {'scan alone':>10} {'share':>6} {'speed':>11} {'peak':>9}"
    )
    try:
        for name, data in payloads(size, args.kinds):
            pieces = split(data)
            del data
            best = {True: float("inf"), False: float("inf")}
            for n in range(args.rounds):  # alternate who goes first: the database has moods
                for scanning in (False, True) if n % 2 == 0 else (True, False):
                    best[scanning] = min(best[scanning], await store(files, pieces, scanning))
            alone, peak, verdict = scan_alone(pieces)
            rate = len(pieces) * PIECE / MIB / alone
            print(
                f"{name:36} {best[False]:8.2f}s {best[True]:8.2f}s {best[True] / best[False]:6.3f}"
                f" {alone:9.3f}s {alone / best[False]:6.1%} {rate:6.0f} MiB/s"
                f" {peak / MIB:5.1f} MiB  {verdict}"
            )
    finally:
        await client.drop_database(grid_name)
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="file size (256)")
    parser.add_argument("--rounds", type=int, default=4, help="uploads of each kind, each way (4)")
    parser.add_argument(
        "--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="files to try (all)"
    )
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of the embedded one")
    args = parser.parse_args()
    with database(args.mongodb_url) as url:
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
