"""Events per second that one `flrepo serve` delivers to many WebSocket subscribers.

    python bench/subscriptions.py                         # 100 subscribers, 500 results
    python bench/subscriptions.py --subscribers 20 --events 2000
    python bench/subscriptions.py --mongodb-url mongodb://localhost:27017/?replicaSet=rs0

Results are inserted straight into the database in batches, so the figure is about delivery:
change stream -> feed -> every subscriber's WebSocket, counted when the clients have received
every event. The baseline, in the same run, is a raw PyMongo change stream on the same
database reading the same number of inserts (events per second to one reader).
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient
from websockets.asyncio.client import connect

from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping

SUBSCRIBE = {
    "id": "1",
    "type": "subscribe",
    "payload": {"query": 'subscription { trainingResultAdded(modelName: "bench") { trainingId } }'},
}


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    """The given MongoDB, or an in-memory SecantusDB for the run."""
    if url:
        yield url
        return
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*command, "--storage-path", ":memory:", "--log-level", "WARNING"])
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_for_ping(url, 60, proc)
        yield url
    finally:
        stop_process(proc)


@contextlib.contextmanager
def server(mongodb_url: str, db_name: str, max_subscriptions: int) -> Iterator[str]:
    port = free_port()
    flrepo = Path(sys.executable).parent / "flrepo"
    env = {
        **os.environ,
        "FLREPO_DB_NAME": db_name,
        "FLREPO_GRID_DB_NAME": db_name + "_grid",
        "FLREPO_MAX_WEBSOCKETS": str(max_subscriptions + 10),
    }
    command = [str(flrepo), "serve", "--port", str(port), "--mongodb-url", mongodb_url]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("flrepo serve did not start")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(proc)


async def subscriber(url: str, events: int, ready: asyncio.Event, done: list[float]) -> None:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"], max_queue=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps(SUBSCRIBE))
        ready.set()
        received = 0
        while received < events:
            message = json.loads(await ws.recv())
            if message["type"] == "next":
                received += 1
            elif message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            else:
                raise RuntimeError(message)
        done.append(time.perf_counter())


async def subscriptions_open(url: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(url + "/metrics")).text
    (line,) = [x for x in text.splitlines() if x.startswith("flrepo_subscriptions_open ")]
    return float(line.split()[1])


async def insert(db, events: int, tag: str) -> float:
    """Insert `events` results in batches of 100; when the first batch went in."""
    start = time.perf_counter()
    for first in range(0, events, 100):
        batch = range(first, min(first + 100, events))
        await db.results.insert_many(
            [{"model_name": "bench", "model_version": tag, "training_id": str(n)} for n in batch]
        )
    return start


async def raw_stream(mongodb_url: str, db_name: str, events: int) -> float:
    """Events per second through a plain PyMongo change stream (the baseline)."""
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    db = client[db_name]
    try:
        stream = await db.watch([{"$match": {"ns.coll": "results"}}], full_document="updateLookup")
        writer = asyncio.create_task(insert(db, events, "raw"))
        received = 0
        async with stream:
            async for _ in stream:
                received += 1
                if received == events:
                    break
        end = time.perf_counter()
        return events / (end - await writer)
    finally:
        await client.close()


async def over_websockets(url: str, mongodb_url: str, db_name: str, n: int, events: int) -> float:
    """Events per second delivered to `n` subscribers (events x subscribers / time)."""
    done: list[float] = []
    readies = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(subscriber(url, events, r, done)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    while await subscriptions_open(url) < n:
        await asyncio.sleep(0.05)
    client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
    try:
        start = await insert(client[db_name], events, uuid.uuid4().hex[:6])
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    return n * events / (max(done) - start)


async def run(args: argparse.Namespace, mongodb_url: str) -> None:
    db_name = "bench" + uuid.uuid4().hex[:8]
    try:
        raw = await raw_stream(mongodb_url, db_name, args.events)
        with server(mongodb_url, db_name, args.subscribers) as url:
            one = await over_websockets(url, mongodb_url, db_name, 1, args.events)
            many = await over_websockets(url, mongodb_url, db_name, args.subscribers, args.events)
    finally:
        client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
        await client.drop_database(db_name)
        await client.drop_database(db_name + "_grid")
        await client.close()
    print(f"{args.events} results inserted in batches of 100")
    print(f"raw change stream, 1 reader:        {raw:10.0f} events/s   (baseline)")
    print(f"flrepo, 1 WebSocket subscriber:     {one:10.0f} events/s   {one / raw:5.2f} x baseline")
    print(
        f"flrepo, {args.subscribers} WebSocket subscribers: {many:8.0f} events/s   "
        f"{many / raw:5.2f} x baseline ({many / args.subscribers:.0f} per subscriber)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of an in-memory one")
    args = parser.parse_args()
    with database(args.mongodb_url) as url:
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
