"""Hashing and scanning run on a pool where one caller holds at most its share of threads:
another caller's small upload finishes promptly while the first runs several slow scans."""

import asyncio
import time

from callers import caller, make_model, multipart, serving
from flrepo.documents.chunk_writer import Inspection
from flrepo.documents.scan_pool import ScanPool

SLOW_S = 1.5  # what the stub makes each large piece's scan take
BIG = 3 * 1024 * 1024  # a large upload: two pieces to scan


def slowed(monkeypatch) -> None:
    """Scans of large pieces are slow (as a CPU-heavy pickle's are), small ones are not."""
    feed = Inspection.feed

    def slow_feed(self, pieces):
        if sum(map(len, pieces)) > 1_000_000:
            time.sleep(SLOW_S)
        feed(self, pieces)

    monkeypatch.setattr(Inspection, "feed", slow_feed)


async def small_upload_time(settings, mongodb_url, per_caller: int) -> float:
    """Seconds caller B's 1 KiB upload takes while caller A sends four large ones."""
    async with (
        serving(
            settings,
            mongodb_url,
            scan_threads=2,
            scan_threads_per_caller=per_caller,
            uploads_per_caller=4,
        ) as app,
        caller(app, "10.0.0.1") as a,
        caller(app, "10.0.0.2") as b,
    ):
        for name in ("a0", "a1", "a2", "a3", "b"):
            await make_model(a, name)

        async def put(client, name: str, data: bytes):
            headers, body = multipart([data[i : i + 65536] for i in range(0, len(data), 65536)])
            return await client.put(f"/model/{name}/1", content=body, headers=headers)

        heavy = [asyncio.create_task(put(a, f"a{i}", bytes([i]) * BIG)) for i in range(4)]
        await asyncio.sleep(0.5)  # A's scans are running and queued
        started = time.monotonic()
        answer = await put(b, "b", b"b" * 1024)
        took = time.monotonic() - started
        assert answer.status_code == 204, answer.text
        assert [r.status_code for r in await asyncio.gather(*heavy)] == [204] * 4
        assert (await a.get("/model/a3/1")).content == bytes([3]) * BIG
        return took


async def test_a_small_upload_is_not_queued_behind_another_callers_scans(
    settings, mongodb_url, monkeypatch
):
    slowed(monkeypatch)
    assert await small_upload_time(settings, mongodb_url, per_caller=1) < SLOW_S


async def test_without_a_share_per_caller_it_would_be(settings, mongodb_url, monkeypatch):
    """The control: A may take both threads, and B's scan waits for one of A's."""
    slowed(monkeypatch)
    assert await small_upload_time(settings, mongodb_url, per_caller=2) >= SLOW_S / 2


async def test_the_pool_takes_callers_in_turn():
    pool = ScanPool(threads=1, per_caller=1)
    order: list[str] = []

    def work(name: str) -> str:
        time.sleep(0.05)
        order.append(name)
        return name

    try:
        jobs = [pool.run("a", work, f"a{i}") for i in range(4)] + [pool.run("b", work, "b")]
        assert await asyncio.gather(*jobs) == ["a0", "a1", "a2", "a3", "b"]
        assert order.index("b") <= 2  # not after all of a's
        assert pool.busy("a") == pool.busy("b") == 0  # no state kept for callers gone
    finally:
        pool.close()
