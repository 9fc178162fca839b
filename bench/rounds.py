"""Recording a round with 100 participants against what a run cost before: a training-result
POST plus the upload of its weights, through a real `flrepo serve`, in the same run.

    python bench/rounds.py                       # embedded database, 1 MiB weights, 30 pairs
    python bench/rounds.py --size-kib 16384 --pairs 10
    python bench/rounds.py --mongodb-url mongodb://localhost:27017

Each pair sends, in alternating order so both meet the same machine load, (a) `POST
/training-results` then `PUT /training-results/{name}/{version}/{id}/{conf}` with the weights,
and (b) `POST /training-results/{name}/{version}/{id}/rounds` with the same weights and 100
participants (client id, examples, metrics, update sha256). It prints the median time of each
and the ratio (b)/(a). Traffic goes to 127.0.0.1 only.
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from upload_download import drop_databases, start_server

RUN = "/training-results/bench/1/run-1"


def participants(count: int) -> list[dict]:
    return [
        {
            "client_id": f"client-{i:03}",
            "num_examples": 1000 + i,
            "metrics": {"loss": 0.5, "accuracy": 0.8},
            "update_sha256": hashlib.sha256(b"update %d" % i).hexdigest(),
        }
        for i in range(count)
    ]


def timed(job, n: int) -> float:
    start = time.perf_counter()
    job(n)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-kib", type=int, default=1024, help="weights size (1024)")
    parser.add_argument("--pairs", type=int, default=30, help="measurements of each (30)")
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--mongodb-url", help="MongoDB URL (default: embedded database)")
    args = parser.parse_args()
    weights = os.urandom(args.size_kib * 1024)
    clients = participants(args.participants)
    before: list[float] = []
    rounds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="flrepo-bench-") as tmp:
        proc, url, db_name = start_server(args, Path(tmp))
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                made = client.post("/model", json={"model_name": "bench", "model_version": "1"})
                assert made.status_code == 201, made.text
                started = client.post(RUN + "/run", json={})
                assert started.status_code == 201, started.text

                def result(n: int) -> None:
                    body = {"model_name": "bench", "model_version": "1", "training_id": f"t{n}"}
                    body |= {"configuration_id": "c", "results": {"accuracy": 0.8}}
                    assert client.post("/training-results", json=body).status_code == 201
                    put = client.put(
                        f"/training-results/bench/1/t{n}/c", files={"file": ("w", weights)}
                    )
                    assert put.status_code == 204, put.text

                def round_(n: int) -> None:
                    form = {"number": n, "metrics": {"accuracy": 0.8}, "participants": clients}
                    sent = client.post(
                        RUN + "/rounds",
                        files=[("round", (None, json.dumps(form))), ("weights", ("w", weights))],
                    )
                    assert sent.status_code == 201, sent.text

                result(0)  # warm up: connections, caches, indexes
                round_(10_000)
                for n in range(1, args.pairs + 1):
                    if n % 2:
                        before.append(timed(result, n))
                        rounds.append(timed(round_, n))
                    else:
                        rounds.append(timed(round_, n))
                        before.append(timed(result, n))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if db_name and args.mongodb_url:
                drop_databases(args.mongodb_url, db_name)
    old, new = statistics.median(before), statistics.median(rounds)
    print(f"{args.pairs} pairs, weights {args.size_kib} KiB, {args.participants} participants:")
    print(f"  training result + weights upload  {old * 1000:8.1f} ms (median)")
    print(f"  recordRound over REST             {new * 1000:8.1f} ms (median)")
    print(f"  ratio                             {new / old:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
