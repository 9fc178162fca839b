"""One caller floods a server up to its shares; another caller's latency is measured.

    python bench/soak.py                   # embedded database, about a minute
    python bench/soak.py --mongodb-url mongodb://localhost:27017

Starts `flrepo serve` on 127.0.0.1 (all traffic stays on loopback) with an idle timeout of
10 s and a connection cap of 300. Caller A (anonymous, 127.0.0.1) then holds stalled uploads
(PUT and tus PATCH that send a few bytes and go silent) past its share, sends fast uploads
and uploads of a pickle that is slow to scan in a loop, opens WebSockets past its share and
idle connections. Caller B (a token) meanwhile times its 1 KiB uploads and `/healthz`; the
median and 95th percentile during the flood are reported against those before it, as ratios,
with what A was refused (429, 503). Bounded: at most FLOOD_S seconds of flood.
"""

import argparse
import asyncio
import base64
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from upload_download import start_server, stop_server

ADMIN = "soak-admin-secret-0123456789"
FLOOD_S = 40.0
SAMPLES = 40
STALLED = 8  # past A's share of 4 uploads at once
FAST = 4  # concurrent loops of small uploads
HEAVY = 2  # concurrent loops of slow-to-scan uploads
WEBSOCKETS = 120  # past A's share of 100
IDLE = 100  # connections that send nothing


def slow_pickle() -> bytes:
    """A pickle whose scan is slow: many memoised strings (about 5 MB)."""
    out = bytearray(b"\x80\x04")
    for i in range(20_000):
        text = (b"%06d" % i) * 42
        out += b"\x8c" + bytes([len(text)]) + text + b"\x94"
    return bytes(out + b"N.")


def form(data: bytes) -> tuple[dict[str, str], bytes]:
    boundary = "soakboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


async def raw(port: int, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    return reader, writer


async def status_of(reader: asyncio.StreamReader, within: float = 2.0) -> int | None:
    try:
        line = await asyncio.wait_for(reader.readline(), within)
    except TimeoutError:
        return None  # still held (a stalled upload, an open socket)
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else None


async def timed(call) -> float:
    start = time.perf_counter()
    response = await call()
    assert response.status_code < 300, response.text
    return time.perf_counter() - start


async def measure(b: httpx.AsyncClient, samples: int) -> dict[str, list[float]]:
    headers, body = form(b"b" * 1024)
    out: dict[str, list[float]] = {"upload": [], "healthz": []}
    for _ in range(samples):
        out["upload"].append(
            await timed(lambda: b.put("/model/b/1", content=body, headers=headers))
        )
        out["healthz"].append(await timed(lambda: b.get("/healthz")))
        await asyncio.sleep(0.05)
    return out


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


async def flood(url: str, port: int, refused: Counter, stop: asyncio.Event) -> list:
    """A's load; returns what it holds open (closed by the caller)."""
    held: list = []
    a = httpx.AsyncClient(base_url=url, timeout=60)
    for name in ("a", "s"):
        await a.post("/model", json={"model_name": name, "model_version": "1"})
    headers, _ = form(b"")
    for _ in range(STALLED):  # a multipart head and a few bytes, then silence
        request = (
            f"PUT /model/a/1 HTTP/1.1\r\nHost: x\r\nContent-Type: {headers['Content-Type']}\r\n"
            "Content-Length: 100000\r\n\r\n--soakboundary\r\nContent-Disposition: form-data; "
            'name="file"; filename="f"\r\n\r\n0123456789'
        ).encode()
        held.append(await raw(port, request))
    for _ in range(WEBSOCKETS):
        key = base64.b64encode(b"0123456789abcdef").decode()
        request = (
            "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        reader, writer = await raw(port, request)
        status = await status_of(reader, 1.0)
        refused[f"websocket {status}"] += 1
        held.append((reader, writer))
    for _ in range(IDLE):
        held.append(await asyncio.open_connection("127.0.0.1", port))
    for reader, _ in held[:STALLED]:
        refused[f"stalled PUT {await status_of(reader, 0.2)}"] += 1

    async def loop(data: bytes, model: str) -> None:
        fields, body = form(data)
        while not stop.is_set():
            response = await a.put(f"/model/{model}/1", content=body, headers=fields)
            refused[f"{model} PUT {response.status_code}"] += 1
            if response.status_code == 429:
                await asyncio.sleep(0.05)

    heavy = slow_pickle()
    tasks = [asyncio.create_task(loop(b"f" * 4096, "a")) for _ in range(FAST)]
    tasks += [asyncio.create_task(loop(heavy, "s")) for _ in range(HEAVY)]
    held.append((tasks, a))
    return held


async def run(url: str, port: int) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=auth) as b:
        await b.post("/model", json={"model_name": "b", "model_version": "1"})
        before = await measure(b, SAMPLES)
        refused: Counter = Counter()
        stop = asyncio.Event()
        started = time.monotonic()
        held = await flood(url, port, refused, stop)
        await asyncio.sleep(2)  # the flood under way
        during = await asyncio.wait_for(measure(b, SAMPLES), FLOOD_S)
        stop.set()
        tasks, a = held.pop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.aclose()
        for _, writer in held:
            writer.close()
        print(f"flood of {time.monotonic() - started:.0f} s; caller A's answers:")
        for what, count in sorted(refused.items()):
            print(f"  {what}: {count}")
        print("caller B           before (median / p95)   during (median / p95)   ratio (median)")
        for what in ("upload", "healthz"):
            b50, b95 = summary(before[what])
            d50, d95 = summary(during[what])
            print(
                f"  {what:<16} {b50 * 1000:7.1f} / {b95 * 1000:7.1f} ms     "
                f"{d50 * 1000:7.1f} / {d95 * 1000:7.1f} ms     {d50 / b50:5.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mongodb-url", help="use this MongoDB instead of the embedded one")
    args = parser.parse_args()
    env = {
        "FLREPO_ADMIN_TOKEN": ADMIN,
        "FLREPO_UPLOAD_IDLE_TIMEOUT_S": "10",
        "FLREPO_MAX_CONNECTIONS": "300",
    }
    with tempfile.TemporaryDirectory() as folder:
        proc, url, db_name = start_server(args, Path(folder), env)
        try:
            asyncio.run(asyncio.wait_for(run(url, int(url.rsplit(":", 1)[1])), 110))
        finally:
            stop_server(proc, args.mongodb_url, db_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
