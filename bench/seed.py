"""Dump and restore a repository of N MiB (default 256); MB/s against the raw driver.

    python bench/seed.py                          # 256 MiB, SecantusDB on a temporary folder
    python bench/seed.py --size-mib 64 --gzip
    python bench/seed.py --mongodb-url mongodb://localhost:27017

The repository is models plus GridFS files in their exact layout (255 KiB chunks). Baselines
in the same run: the raw driver inserting the same documents (insert_many of raw BSON) and
reading them (find_raw_batches), and reading the archive file from disk.
"""

import argparse
import asyncio
import contextlib
import gzip
import os
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bson import Binary, ObjectId, encode
from bson.raw_bson import RawBSONDocument
from flrepo.documents.database import Databases
from flrepo.seed.dump import dump
from flrepo.seed.restore import restore
from pymongo import AsyncMongoClient

from flrepo.embedded import embedded_database

MIB = 1024 * 1024
CHUNK = 255 * 1024
FILE_MIB = 16


def documents(size: int) -> dict[str, list[RawBSONDocument]]:
    """Models, fs.files and fs.chunks documents holding `size` bytes of file data."""
    block = os.urandom(CHUNK)
    out: dict[str, list[RawBSONDocument]] = {"models": [], "fs.files": [], "fs.chunks": []}
    for f in range(max(1, size // (FILE_MIB * MIB))):
        file_id = ObjectId()
        length = min(FILE_MIB * MIB, size - f * FILE_MIB * MIB)
        for n, start in enumerate(range(0, length, CHUNK)):
            data = (f.to_bytes(4, "big") + n.to_bytes(4, "big") + block[8:])[: length - start]
            chunk = {"_id": ObjectId(), "files_id": file_id, "n": n, "data": Binary(data)}
            out["fs.chunks"].append(RawBSONDocument(encode(chunk)))
        file = {
            "_id": file_id,
            "filename": f"model/m{f}/1",
            "chunkSize": CHUNK,
            "length": length,
            "uploadDate": datetime.now(UTC),
        }
        out["fs.files"].append(RawBSONDocument(encode(file)))
        model = {"model_name": f"m{f}", "model_version": "1", "model_id": str(file_id)}
        out["models"].append(RawBSONDocument(encode({"_id": ObjectId(), **model})))
    return out


@contextlib.contextmanager
def database(url: str | None, folder: Path) -> Iterator[str]:
    if url:
        yield url
    else:
        with embedded_database(folder) as embedded:
            yield embedded


async def timed(coroutine) -> tuple[object, float]:
    start = time.perf_counter()
    result = await coroutine
    return result, time.perf_counter() - start


async def insert(client: AsyncMongoClient, names: Databases, docs) -> None:
    for name, batch in docs.items():
        db = client[names.grid_db_name if name.startswith("fs.") else names.db_name]
        for start in range(0, len(batch), 32):
            await db[name].insert_many(batch[start : start + 32], ordered=False)


async def read_all(client: AsyncMongoClient, names: Databases) -> int:
    total = 0
    for db_name in (names.db_name, names.grid_db_name):
        for name in await client[db_name].list_collection_names():
            async for batch in client[db_name][name].find_raw_batches():
                total += len(batch)
    return total


def read_file(path: Path, compress: bool) -> tuple[float, float | None]:
    """Seconds to read the archive file; for gzip also to deflate its contents on one thread
    at the level dump uses (zlib alone: the pace of a single-threaded gzip writer)."""
    start = time.perf_counter()
    with path.open("rb") as archive:
        while archive.read(MIB):
            pass
    file_s = time.perf_counter() - start
    if not compress:
        return file_s, None
    with gzip.open(path, "rb") as archive:
        contents = archive.read()
    start = time.perf_counter()
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    for offset in range(0, len(contents), MIB):
        packer.compress(contents[offset : offset + MIB])
    packer.flush()
    return file_s, time.perf_counter() - start


async def bench(url: str, size: int, compress: bool, folder: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    source = Databases(f"bench_{tag}", f"bench_{tag}_grid")
    target = Databases(f"bench_{tag}_r", f"bench_{tag}_r_grid")
    raw = Databases(f"bench_{tag}_raw", f"bench_{tag}_raw_grid")
    client: AsyncMongoClient = AsyncMongoClient(url)
    docs = documents(size)
    nbytes = sum(len(d.raw) for batch in docs.values() for d in batch)
    mb = nbytes / 1e6
    try:
        # Each measured step and its baseline run against the same state of the database:
        # the source repository loaded, the step's target empty.
        await insert(client, source, docs)
        path = folder / ("bench.dump.gz" if compress else "bench.dump")
        report, dump_s = await timed(dump(source, url, path, compress=compress))
        _, read_s = await timed(read_all(client, source))
        file_s, zlib_s = read_file(path, compress)
        restored, restore_s = await timed(restore(target, url, path))
        assert restored.documents == report.documents, (restored.documents, report.documents)
        await client.drop_database(target.db_name)
        await client.drop_database(target.grid_db_name)
        _, insert_s = await timed(insert(client, raw, docs))
    finally:
        for names in (source, target, raw):
            await client.drop_database(names.db_name)
            await client.drop_database(names.grid_db_name)
        await client.close()
    kind = "gzip archive" if compress else "archive"
    print(f"repository: {nbytes / MIB:.0f} MiB of BSON in {report.documents} documents; {kind}")
    print(f"  archive file: {report.file_bytes / MIB:.0f} MiB")
    rows = [
        ("raw driver insert_many (baseline)", insert_s),
        ("seed restore", restore_s),
        ("raw driver find_raw_batches (baseline)", read_s),
        ("seed dump", dump_s),
        ("read the archive file (baseline)", file_s),
    ]
    if zlib_s is not None:
        rows.append(("gzip -6 of its contents, one thread", zlib_s))
    for name, seconds in rows:
        print(f"  {name:40s} {seconds:7.2f} s {mb / seconds:8.1f} MB/s")
    print(f"  restore / raw insert: {insert_s / restore_s:.2f}")
    print(f"  dump / raw read:      {read_s / dump_s:.2f}")
    if zlib_s is not None:
        print(f"  dump / one-thread gzip: {zlib_s / dump_s:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="file data (256)")
    parser.add_argument("--gzip", action="store_true", help="a gzip-compressed archive")
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of SecantusDB")
    args = parser.parse_args()
    database_kind = "external MongoDB" if args.mongodb_url else "SecantusDB (embedded, on disk)"
    print(f"database: {database_kind}")
    with tempfile.TemporaryDirectory(prefix="flrepo-seed-bench-") as tmp:
        folder = Path(tmp)
        with database(args.mongodb_url, folder / "data") as url:
            asyncio.run(bench(url, args.size_mib * MIB, args.gzip, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
