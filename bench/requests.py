"""Per-request speed of one `flrepo serve`, against the raw driver on the same database.

    python bench/requests.py                          # embedded database
    python bench/requests.py --requests 5000 --concurrency 8 --rounds 3

Prints, in one run: PyMongo's `find_one` rate on the server's own database (the ceiling),
the REST metadata GET rate (`/model/meta`), the GraphQL one-object rate, their ratios
(goals: REST >= 0.7x the driver, GraphQL >= 0.85x REST), and the CPU each request costs
the server process and the database process (their CPU times over the run, per request).
Rates are medians over alternating rounds, so that all kinds meet the same machine load.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).parent))
from graphql_vs_rest import ADMIN, QUERY, prepare
from upload_download import start_server

REST = b"GET /model/meta?model_name=bench&model_version=1 HTTP/1.1\r\nhost: bench\r\n\r\n"
BODY = json.dumps({"query": QUERY}).encode()
GRAPHQL = (
    b"POST /graphql HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


async def http_client(port: int, request: bytes) -> Callable[[], Awaitable[None]]:
    """One keep-alive connection sending `request` and reading each answer whole. Written on
    asyncio streams rather than with httpx, whose own cost per request would cap the figure
    below the server's."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def once() -> None:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        assert b'"errors"' not in body, body

    return once


async def rate(make: Callable[[], Awaitable[Callable[[], Awaitable[None]]]], count: int,
               concurrency: int) -> float:  # fmt: skip
    """Calls a second: `count` calls shared by `concurrency` callers, after a warm-up."""
    callers = [await make() for _ in range(concurrency)]
    left = 0

    async def worker(call: Callable[[], Awaitable[None]]) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    left = min(count, 200)
    await asyncio.gather(*(worker(c) for c in callers))
    left = count
    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in callers))
    return count / (time.perf_counter() - start)


def cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per kind and round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.mongodb_url = None
    kinds = ["driver", "REST", "GraphQL"]
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, dict[str, float]] = {kind: {"server": 0.0, "database": 0.0} for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="flrepo-bench-") as tmp:
        proc, url, _ = start_server(args, Path(tmp), {"FLREPO_ADMIN_TOKEN": ADMIN})
        try:
            prepare(url)
            server = psutil.Process(proc.pid)
            (database,) = [
                c for c in server.children(recursive=True) if "secantusd" in " ".join(c.cmdline())
            ]
            db_port = database.cmdline()[database.cmdline().index("--port") + 1]
            port = int(url.rsplit(":", 1)[1])
            for _ in range(args.rounds):
                for kind in kinds:
                    before = cpu_s(server), cpu_s(database)
                    rates[kind].append(asyncio.run(measure(kind, port, db_port, args)))
                    after = cpu_s(server), cpu_s(database)
                    per = 1000 / (args.requests * args.rounds)
                    cpu[kind]["server"] += (after[0] - before[0]) * per
                    cpu[kind]["database"] += (after[1] - before[1]) * per
        finally:
            proc.terminate()
            proc.wait(30)
    median = {kind: statistics.median(rates[kind]) for kind in kinds}
    print(
        f"one-object reads, {args.requests} x {args.rounds} rounds, "
        f"concurrency {args.concurrency} (median rates; CPU per request, incl. warm-up):"
    )
    for kind in kinds:
        print(
            f"  {kind:8} {median[kind]:7.0f} /s   CPU server {cpu[kind]['server']:5.2f} ms, "
            f"database {cpu[kind]['database']:5.2f} ms"
        )
    print(f"  REST / driver:  {median['REST'] / median['driver']:.2f}  (goal >= 0.70)")
    print(f"  GraphQL / REST: {median['GraphQL'] / median['REST']:.2f}  (goal >= 0.85)")
    return 0


async def measure(kind: str, port: int, db_port: str, args: argparse.Namespace) -> float:
    if kind == "driver":
        client: AsyncMongoClient = AsyncMongoClient(
            f"mongodb://127.0.0.1:{db_port}/?directConnection=true", maxPoolSize=args.concurrency
        )
        models = client["repository"]["models"]

        async def make() -> Callable[[], Awaitable[None]]:
            async def once() -> None:
                assert await models.find_one({"model_name": "bench", "model_version": "1"})

            return once

        try:
            return await rate(make, args.requests, args.concurrency)
        finally:
            await client.close()
    request = REST if kind == "REST" else GRAPHQL
    return await rate(lambda: http_client(port, request), args.requests, args.concurrency)


if __name__ == "__main__":
    sys.exit(main())
