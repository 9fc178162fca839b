"""One-object reads through a real `flrepo serve`: GraphQL against the same read over REST.

    python bench/graphql_vs_rest.py                      # embedded database
    python bench/graphql_vs_rest.py --requests 5000 --concurrency 16
    python bench/graphql_vs_rest.py --mongodb-url mongodb://localhost:27017

Each kind of request is sent `--requests` times by `--concurrency` keep-alive clients, in
alternating rounds so that all meet the same machine load; each round's rates are divided by
that round's REST rate (the baseline), and the medians over the rounds are printed. The token
rows send `Authorization: Bearer` with a stored token (one database lookup per request).
Last, the time the server takes to refuse the two expensive queries of the security report.
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from upload_download import drop_databases, start_server

ADMIN = "bench-admin-" + uuid.uuid4().hex
QUERY = (
    'query { model(modelName: "bench", modelVersion: "1") '
    "{ modelName modelVersion meta { library description } } }"
)


ELEVEN = (
    "{ models(limit: 20) { trainingResults { model { trainingResults { model { trainingResults "
    "{ model { trainingResults { model { trainingResults { model { modelName "
    "} } } } } } } } } } } }"
)
ALIASES = "{" + " ".join(f"a{i}:models{{modelName}}" for i in range(3000)) + "}"


def refusal_ms(url: str, query: str, times: int = 20) -> float:
    """Median milliseconds until the server refuses `query` (it must refuse it)."""
    spent = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(times):
            start = time.perf_counter()
            response = client.post("/graphql", json={"query": query})
            spent.append((time.perf_counter() - start) * 1000)
            assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    return statistics.median(spent)


def requests_of(kind: str, token: str) -> tuple[str, str, dict, dict | None]:
    headers = {"Authorization": f"Bearer {token}"} if kind.endswith("token") else {}
    if kind.startswith("REST"):
        return "GET", "/model/meta?model_name=bench&model_version=1", headers, None
    return "POST", "/graphql", headers, {"query": QUERY}


async def run(url: str, kind: str, token: str, count: int, concurrency: int) -> float:
    """Requests per second for `count` requests of `kind`."""
    method, path, headers, body = requests_of(kind, token)
    left = count

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 200, response.text
            assert "errors" not in response.text, response.text

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        left = min(count, 200)  # warm up: connections open, caches filled
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        left = count
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return count / (time.perf_counter() - start)


def prepare(url: str) -> str:
    """The model to read, and a read token; returns the token's secret."""
    created = httpx.post(f"{url}/model", json={"model_name": "bench", "model_version": "1"})
    assert created.status_code in (201, 400), created.text
    made = httpx.post(
        f"{url}/graphql",
        json={
            "query": f'mutation {{ createToken(name: "bench-{uuid.uuid4().hex[:6]}", '
            'scopes: ["read"]) { secret } }'
        },
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    return made.json()["data"]["createToken"]["secret"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="per kind and round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mongodb-url", help="MongoDB URL (default: embedded database)")
    args = parser.parse_args()
    kinds = ["REST", "GraphQL", "REST, token", "GraphQL, token"]
    rates: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="flrepo-bench-") as tmp:
        proc, url, db_name = start_server(args, Path(tmp), {"FLREPO_ADMIN_TOKEN": ADMIN})
        try:
            token = prepare(url)
            for _ in range(args.rounds):
                for kind in kinds:
                    rate = asyncio.run(run(url, kind, token, args.requests, args.concurrency))
                    rates[kind].append(rate)
            refusals = {
                "eleven levels": refusal_ms(url, ELEVEN),
                "3,000 aliases": refusal_ms(url, ALIASES),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if db_name and args.mongodb_url:
                drop_databases(args.mongodb_url, db_name)
    print(
        f"one-object read, {args.requests} requests x {args.rounds} rounds, "
        f"concurrency {args.concurrency} (medians over the rounds):"
    )
    for kind in kinds:
        ratios = [rate / rest for rate, rest in zip(rates[kind], rates["REST"], strict=True)]
        print(
            f"  {kind:15} {statistics.median(rates[kind]):8.0f} req/s  "
            f"{statistics.median(ratios):.2f}x REST"
        )
    print("refused before running (median of 20, one client):")
    for name, ms in refusals.items():
        print(f"  {name:15} {ms:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
