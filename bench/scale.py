"""How lists, deep pages, rankings and `models(trained:)` grow with the repository.

    python bench/scale.py                        # N = 1k, 10k, 100k on the embedded database
    python bench/scale.py --sizes 1000 10000 --repeat 5

For each N, a fresh in-memory SecantusDB is filled by bulk inserts through the driver: N
training results over 20 model names x 5 versions (an `accuracy` stored as a string, as the
original did), with their ranking rows, and 200 models of which those 100 are trained. The
server then runs in process and each GraphQL query is timed (median of --repeat) beside the
database's own index-served `find().sort().limit(100)` on the same data, timed just before
each query. The first pages are timed as a running server serves them (the ends of windows
read before kept, `operations/window_ends`) and cold, with none kept (as after a restart).
Printed: milliseconds, the median ratio to that baseline, the growth per 10x.
"""

import argparse
import asyncio
import itertools
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from flrepo.documents.ordering import ORDER
from flrepo.documents.ranks import RANKS, numeric_metrics, rank_rows
from flrepo.operations import common, readiness
from flrepo.operations import ranking as ranking_module
from flrepo.operations.common import listing_cursor
from flrepo.operations.ranking import Ranking
from pymongo import AsyncMongoClient

from flrepo.app import create_app
from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping
from flrepo.settings import Settings

NAMES, VERSIONS, BATCH = 20, 5, 5_000
ROWS = [
    "first page",
    "first page, cold",
    "deep page (offset)",
    "deep page (cursor)",
    "ranking first page",
    "ranking first page, cold",
    "ranking deep page (cursor)",
    "models(trained:true)",
]
FIRST = "{ trainingResults(limit: 100) { trainingId } }"
DEEP = "query($o: Int) { trainingResults(limit: 100, offset: $o) { trainingId } }"
CURSOR = """query($a: String) { trainingResultsConnection(first: 100, after: $a) {
  edges { node { trainingId } } pageInfo { endCursor } } }"""
RANKING = '{ trainingResults(orderBy: {metric: "accuracy"}, limit: 100) { trainingId } }'
RANKED = """query($a: String) { trainingResultsConnection(orderBy: {metric: "accuracy"},
  first: 100, after: $a) { edges { node { trainingId } } pageInfo { endCursor } } }"""
TRAINED = "{ models(trained: true, limit: 100) { modelName } }"


async def fill(db: Any, n: int) -> None:
    """N results, their ranking rows, 200 models; bulk inserts, in batches."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rng = random.Random(n)
    for first in range(0, n, BATCH):
        docs = []
        for i in range(first, min(n, first + BATCH)):
            results = {"accuracy": f"{rng.random():.4f}", "rounds": "n/a"}
            docs.append(
                {
                    "_id": ObjectId(),
                    "model_name": f"model-{i % NAMES}",
                    "model_version": str(i // NAMES % VERSIONS),
                    "training_id": f"run-{i}",
                    "configuration_id": f"conf-{i % 7}",
                    "results": results,
                    "weights_id": None,
                    "created_at": start + timedelta(milliseconds=i),
                    "metrics_numeric": numeric_metrics(results),
                }
            )
        await db.results.insert_many(docs, ordered=False)
        await db[RANKS].insert_many([row for d in docs for row in rank_rows(d)], ordered=False)
    await db.models.insert_many(
        [
            {
                "model_name": f"model-{i % (2 * NAMES)}",
                "model_version": str(i // (2 * NAMES)),
                "meta": None,
                "model_id": None,
                "created_at": start + timedelta(milliseconds=i),
                "trained": i % (2 * NAMES) < NAMES,
            }
            for i in range(2 * NAMES * VERSIONS)
        ]
    )


async def timed_ms(call: Callable[[], Awaitable[Any]]) -> float:
    began = time.perf_counter()
    await call()
    return (time.perf_counter() - began) * 1000


async def paired(
    call: Callable[[], Awaitable[Any]], baseline: Callable[[], Awaitable[Any]], repeat: int
) -> tuple[float, float]:
    """Median milliseconds of `call`, and the median of its ratios to `baseline` timed just
    before it each time (so that a busy machine weighs on both alike)."""
    spent, ratios = [], []
    for _ in range(repeat):
        base = await timed_ms(baseline)
        ms = await timed_ms(call)
        spent.append(ms)
        ratios.append(ms / base)
    return statistics.median(spent), statistics.median(ratios)


async def measure(url: str, n: int, repeat: int) -> dict[str, tuple[float, float]]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(mongodb_url=url, db_name=f"scale{tag}", grid_db_name=f"scale{tag}_g")
    mongo: AsyncMongoClient = AsyncMongoClient(url)
    db = mongo[settings.db_name]
    await fill(db, n)
    app = create_app(settings, url)
    out: dict[str, tuple[float, float]] = {}
    async with app.router.lifespan_context(app):
        await readiness.wait()  # the startup backfill (nothing to do here) has looked
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=600) as c:

            async def gql(query: str, **variables: Any) -> dict[str, Any]:
                body = await c.post("/graphql", json={"query": query, "variables": variables})
                answer = body.json()
                assert "errors" not in answer, answer
                return answer["data"]

            deep = await db.results.find().sort(ORDER).skip(n - 101).limit(1).to_list()
            cursor = listing_cursor(deep[0])
            ranking = Ranking("accuracy", True, {})
            rows = db[RANKS].find(ranking.rows_query()).sort(ranking.field, 1)
            row = (await rows.skip(n - 250).limit(1).to_list())[0]  # the page ends before the tail
            ranked_cursor = ranking.cursor(row["key"], row["rid"])
            index = db.results.find().sort(ORDER).limit(100)

            async def baseline() -> None:
                await index.clone().to_list()

            async def cold(call: Awaitable[Any]) -> Any:
                """`call`, with no window end kept (as after a restart: window_ends)."""
                common.ENDS.clear()
                ranking_module.ENDS.clear()
                return await call

            calls: dict[str, Callable[[], Awaitable[Any]]] = {
                "first page": lambda: gql(FIRST),
                "first page, cold": lambda: cold(gql(FIRST)),
                "deep page (offset)": lambda: gql(DEEP, o=n - 100),
                "deep page (cursor)": lambda: gql(CURSOR, a=cursor),
                "ranking first page": lambda: gql(RANKING),
                "ranking first page, cold": lambda: cold(gql(RANKING)),
                "ranking deep page (cursor)": lambda: gql(RANKED, a=ranked_cursor),
                "models(trained:true)": lambda: gql(TRAINED),
            }
            out["baseline"] = (
                statistics.median([await timed_ms(baseline) for _ in range(repeat)]),
                1.0,
            )
            for row, call in calls.items():
                out[row] = await paired(call, baseline, repeat)
    await mongo.drop_database(settings.db_name)
    await mongo.drop_database(settings.grid_db_name)
    await mongo.close()
    return out


def report(sizes: list[int], figures: dict[int, dict[str, tuple[float, float]]]) -> None:
    print("| query | " + " | ".join(f"N={n:,}" for n in sizes) + " | growth per 10x |")
    print("|---|" + "---|" * len(sizes) + "---|")
    for row in ["baseline", *ROWS]:
        cells = []
        for n in sizes:
            ms, ratio = figures[n][row]
            cells.append(f"{ms:,.1f} ms" + ("" if row == "baseline" else f" ({ratio:.2f}x)"))
        growth = [figures[b][row][0] / figures[a][row][0] for a, b in itertools.pairwise(sizes)]
        steps = ", ".join(f"{g:.2f}x" for g in growth) or "-"
        name = "find().sort().limit(100), driver" if row == "baseline" else row
        print(f"| {name} | " + " | ".join(cells) + f" | {steps} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--storage-path", ":memory:", "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        wait_for_ping(url, 60, proc)
        figures = {}
        for n in args.sizes:
            figures[n] = asyncio.run(measure(url, n, args.repeat))
            print(f"N={n:,}: " + ", ".join(f"{k} {v[0]:.1f} ms" for k, v in figures[n].items()),
                  file=sys.stderr, flush=True)  # fmt: skip
        report(args.sizes, figures)
    finally:
        stop_process(proc, address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
