"""A large file uploaded by tus (the tuspy client) and by a plain REST PUT, in the same run.

    python bench/tus_upload.py                       # 1 GiB, embedded database
    python bench/tus_upload.py --size-mib 256 --rounds 2
    python bench/tus_upload.py --mongodb-url mongodb://localhost:27017

Both uploads send the same file, written to a temporary folder first, to a real `flrepo serve`
(PUT streams it in 1 MiB reads, tuspy reads one PATCH at a time); the server process is
sampled for resident memory throughout. Throughput is reported for each and as the ratio
tus / PUT (the goal is at least 0.8). Each upload is checked by its stored sha256.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from tusclient.client import TusClient
from upload_download import MIB, PeakRss, start_server, stop_server

PIECE = MIB


def write_file(path: Path, size: int) -> str:
    """`size` bytes on disk (piece i is i, then a fixed random block); their sha256."""
    block = os.urandom(PIECE)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(-(-size // PIECE)):
            piece = (i.to_bytes(8, "big") + block[8:])[: size - i * PIECE]
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def multipart(path: Path, boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    with path.open("rb") as source:
        while piece := source.read(PIECE):
            yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


def put(client: httpx.Client, source: Path) -> float:
    boundary = "bench" + os.urandom(8).hex()
    start = time.perf_counter()
    response = client.put(
        "/model/bench/1",
        content=multipart(source, boundary),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def tus(url: str, source: Path, chunk_mib: int) -> float:
    uploader = TusClient(f"{url}/uploads/").uploader(
        file_path=str(source),
        chunk_size=chunk_mib * MIB,
        metadata={"kind": "model", "model_name": "bench", "model_version": "1"},
    )
    start = time.perf_counter()
    uploader.upload()
    return time.perf_counter() - start


def stored_sha256(client: httpx.Client) -> str:
    return client.head("/model/bench/1").headers["etag"].strip('"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="file size (1024)")
    parser.add_argument("--chunk-mib", type=int, default=64, help="tus PATCH size (64)")
    parser.add_argument("--rounds", type=int, default=1, help="uploads of each kind (1)")
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of the embedded one")
    args = parser.parse_args()
    size = args.size_mib * MIB

    with tempfile.TemporaryDirectory(prefix="flrepo-bench-") as tmp:
        source = Path(tmp) / "bench.bin"
        expected = write_file(source, size)
        proc, url, db_name = start_server(args, Path(tmp))
        sampler = PeakRss(proc.pid)
        idle, _ = sampler.sample()
        sampler.start()
        times: dict[str, list[float]] = {"PUT": [], "tus": []}
        peaks: dict[str, int] = {"PUT": 0, "tus": 0}
        try:
            with httpx.Client(base_url=url, timeout=3600) as client:
                created = client.post("/model", json={"model_name": "bench", "model_version": "1"})
                created.raise_for_status()
                for _ in range(args.rounds):
                    for kind in ("PUT", "tus"):
                        sampler.reset()
                        if kind == "PUT":
                            elapsed = put(client, source)
                        else:
                            elapsed = tus(url, source, args.chunk_mib)
                        times[kind].append(elapsed)
                        peaks[kind] = max(peaks[kind], sampler.server)
                        got = stored_sha256(client)
                        assert got == expected, (kind, got, expected)
        finally:
            sampler.stop()
            stop_server(proc, args.mongodb_url, db_name)

    mb = size / 1e6
    database = "external MongoDB" if args.mongodb_url else "embedded SecantusDB"
    print(f"file: {args.size_mib} MiB, {database}, tus PATCHes of {args.chunk_mib} MiB (tuspy)")
    best = {kind: min(values) for kind, values in times.items()}
    for kind, values in times.items():
        runs = ", ".join(f"{mb / t:.1f}" for t in values)
        print(
            f"{kind:>4}: best {best[kind]:6.2f} s  {mb / best[kind]:7.1f} MB/s  (runs: {runs} MB/s)"
        )
    print(f"tus / PUT throughput: {best['PUT'] / best['tus']:.2f}x (goal >= 0.8x)")
    print(f"server peak RSS (MiB): idle {idle / MIB:.1f}, ", end="")
    print(f"during PUT {peaks['PUT'] / MIB:.1f}, during tus {peaks['tus'] / MIB:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
