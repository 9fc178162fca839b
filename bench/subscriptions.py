"""Events per second that one `flrepo serve` delivers to many WebSocket subscribers.

    python bench/subscriptions.py                         # 100 subscribers, 500 results
    python bench/subscriptions.py --subscribers 20 --events 2000
    python bench/subscriptions.py --mongodb-url mongodb://localhost:27017/?replicaSet=rs0
    python bench/subscriptions.py --latency --subscribers 1000 --events 30

With `--latency`, results are posted one at a time over REST instead: it prints how long
after its POST the last subscriber receives each result (p50, p99), and the POST's own time
with no subscribers and with all of them listening.

Results are inserted straight into the database in batches, so the figure is about delivery:
change stream -> feed -> every subscriber's WebSocket, counted when the clients have received
every event. The baseline, in the same run, is a raw PyMongo change stream on the same
database reading the same number of inserts (events per second to one reader).
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
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
        "FLREPO_WEBSOCKETS_PER_CALLER": str(max_subscriptions + 10),  # all from one address
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


LATENCY_QUERY = 'subscription { trainingResultAdded(modelName: "late") { trainingId } }'


async def arrivals(url: str, ready: asyncio.Event, seen: dict[str, list[float]]) -> None:
    """One subscriber noting when each result arrives, until cancelled."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"], max_queue=None) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": LATENCY_QUERY}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        ready.set()
        async for frame in ws:
            message = json.loads(frame)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                training_id = message["payload"]["data"]["trainingResultAdded"]["trainingId"]
                seen.setdefault(training_id, []).append(time.perf_counter())


def timed_posts(url: str, count: int, tag: str) -> dict[str, tuple[float, float]]:
    """POST `count` results one at a time: each one's (start, duration). Runs in a process
    of its own, so that the subscribers' reading here does not slow its client down
    (perf_counter is the system's monotonic clock, the same in both)."""
    timed = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(count):
            body = {"model_name": "late", "model_version": "1", "training_id": f"{tag}{n}"}
            start = time.perf_counter()
            response = client.post("/training-results", json=body)
            timed[body["training_id"]] = (start, time.perf_counter() - start)
            assert response.status_code == 201, response.text
            time.sleep(0.2)  # each event delivered before the next
    return timed


async def posts(url: str, count: int, tag: str) -> dict[str, tuple[float, float]]:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await loop.run_in_executor(pool, timed_posts, url, count, tag)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(url: str, n: int, events: int) -> None:
    quiet = await posts(url, events, "quiet")
    seen: dict[str, list[float]] = {}
    readies = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(arrivals(url, r, seen)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    while await subscriptions_open(url) < 1:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    busy = await posts(url, events, "busy")
    await asyncio.sleep(2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    last = [max(seen[id]) - start for id, (start, _) in busy.items() if len(seen.get(id, [])) == n]
    quiet_post = percentile([d for _, d in quiet.values()], 0.5)
    busy_post = percentile([d for _, d in busy.values()], 0.5)
    print(f"{n} subscribers of one subscription, {events} results posted one at a time")
    print(f"  delivered to every subscriber:   {len(last)} of {events}")
    print(f"  last subscriber's latency:       p50 {percentile(last, 0.5) * 1000:6.1f} ms   "
          f"p99 {percentile(last, 0.99) * 1000:6.1f} ms")  # fmt: skip
    print(f"  POST, no subscribers:            p50 {quiet_post * 1000:6.1f} ms")
    print(f"  POST, {n} subscribers:  " + " " * (10 - len(str(n))) +
          f"p50 {busy_post * 1000:6.1f} ms   ({busy_post / quiet_post:.2f} x)")  # fmt: skip


async def run(args: argparse.Namespace, mongodb_url: str) -> None:
    db_name = "bench" + uuid.uuid4().hex[:8]
    if args.latency:
        try:
            with server(mongodb_url, db_name, args.subscribers) as url:
                await latency(url, args.subscribers, args.events)
        finally:
            client: AsyncMongoClient = AsyncMongoClient(mongodb_url)
            await client.drop_database(db_name)
            await client.close()
        return
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
    parser.add_argument("--latency", action="store_true", help="time each result's delivery")
    args = parser.parse_args()
    with database(args.mongodb_url) as url:
        asyncio.run(run(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
