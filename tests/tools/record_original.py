"""Record exchanges with the original service, for tests/test_compat_recorded.py to replay.

Runs the original (a checkout of Modular-ML-inference/component-repository at the FL commit
a128baf or the inference commit 7bfb1b7) in its own virtual environment, with the versions its
requirements pin, against an in-memory SecantusDB on loopback; sends it a fixed scenario and
writes each request with the status, content type and body it got to a JSON file:

    python3 -m venv /tmp/orig-venv && /tmp/orig-venv/bin/pip install fastapi==0.83.0 \\
        pydantic==1.10.2 starlette==0.19.1 pymongo==4.2.0 uvicorn==0.18.3 \\
        python-multipart==0.0.5 anyio==3.6.1 h11==0.12.0
    git -C component-repository archive a128baf | tar -x -C /tmp/orig-fl
    python tests/tools/record_original.py fl /tmp/orig-fl tests/data/original/fl.json
    python tests/tools/record_original.py inference /tmp/orig-inf tests/data/original/inference.json

Run it with the project's own environment (it needs httpx and secantusd-py).
"""

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

COMMITS = {"fl": "a128baf", "inference": "7bfb1b7"}
WEIGHTS = b"\x80\x04\x95weights\n\x00\x01\x02\xff" * 40
OBJECT = b"\x80\x04\x95object\n\x00\xfe" * 30
NEEDS = {"storage": "10", "RAM": 2, "GPU": "true", "preinstalled_libraries": {"numpy": 1.26}}


def post(path: str, body: Any, name: str) -> dict[str, Any]:
    return {"name": name, "method": "POST", "path": path, "json": body}


def put(path: str, body: Any, name: str) -> dict[str, Any]:
    return {"name": name, "method": "PUT", "path": path, "json": body}


def get(path: str, name: str) -> dict[str, Any]:
    return {"name": name, "method": "GET", "path": path}


def upload(path: str, data: bytes, name: str) -> dict[str, Any]:
    return {"name": name, "method": "PUT", "path": path, "file": base64.b64encode(data).decode()}


def delete(path: str, name: str) -> dict[str, Any]:
    return {"name": name, "method": "DELETE", "path": path}


def model_steps() -> list[dict[str, Any]]:
    meta = {"library": "keras", "description": "baseline"}
    return [
        post("/model", {"model_name": "m", "model_version": 1, "meta": meta}, "model created"),
        post("/model", {"model_name": "m", "model_version": "1"}, "model exists"),
        get("/model", "models listed"),
        get("/model/meta?model_name=m&model_version=1", "model meta"),
        put("/model/meta/m/1", {"library": "torch", "description": 7}, "model meta replaced"),
        upload("/model/m/1", OBJECT, "model file uploaded"),
        get("/model/m/1", "model file downloaded"),
        get("/model/meta?model_name=m&model_version=2", "missing model meta"),
        get("/model/nope/1", "missing model file"),
        post("/model", {"model_name": "b", "model_version": [1]}, "list for a string"),
    ]


def transformation_steps(word: str = "transformation") -> list[dict[str, Any]]:
    body = {
        "id": "t",
        "description": "scales",
        "parameter_types": {"factor": "float"},
        "default_values": {"factor": 1.5},
        "outputs": ["scaled"],
        "needs": NEEDS,
    }
    return [
        post(f"/{word}", body, f"{word} created"),
        post(f"/{word}", body, f"{word} exists"),
        post(f"/{word}", {**body, "id": "u", "needs": {"storage": "ten"}}, f"{word} bad storage"),
        get(f"/{word}", f"{word}s listed"),
        upload(f"/{word}/t", OBJECT, f"{word} object uploaded"),
        get(f"/{word}/t", f"{word} object downloaded"),
        put(f"/{word}/meta/t", {**body, "description": "doubles"}, f"{word} meta replaced"),
        get(f"/{word}", f"{word}s listed again"),
        delete(f"/{word}/t", f"{word} deleted"),
        delete(f"/{word}/t", f"{word} deleted again"),
    ]


def fl_steps() -> list[dict[str, Any]]:
    result = {
        "model_name": "m",
        "model_version": 1,
        "training_id": 13,
        "configuration_id": 10,
        "results": {"accuracy": 0.93, "loss": "0.1", "rounds": 3},
    }
    strategy = {"strategy_name": "s", "strategy_description": "avg", "meta": {"rounds": "3"}}
    return [
        *model_steps(),
        post("/training-results", result, "result created"),
        post("/training-results", result, "result exists"),
        get("/training-results", "results listed"),
        get("/training-results/m/1", "results of a model"),
        upload("/training-results/m/1/13/10", WEIGHTS, "weights uploaded"),
        get("/training-results/weights/m/1/13", "weights downloaded"),
        get("/training-results/weights/m/1/99", "missing weights"),
        get("/models/download/shell/m/1/10", "newest weights file"),
        get("/models/download/shell/m/1/11", "no weights file"),
        post("/strategy", strategy, "strategy created"),
        post("/strategy", strategy, "strategy exists"),
        put("/strategy/meta/s", {"meta": {"rounds": 5}}, "strategy meta replaced"),
        upload("/strategy/s", OBJECT, "strategy object uploaded"),
        get("/strategy/s", "strategy object downloaded"),
        get("/strategy", "strategies listed"),
        *transformation_steps(),
        delete("/training-results/m/1/13", "result deleted"),
        delete("/strategy/s", "strategy deleted"),
        delete("/model/m/1", "model deleted"),
        delete("/model/m/1", "model deleted again"),
    ]


def inference_steps() -> list[dict[str, Any]]:
    inferencer = {"id": "i", "library": "keras", "needs": NEEDS, "use_cuda": "false"}
    service = {"id": "v", "description": "detects", "needs": {"RAM": "4", "GPU": 0}}
    return [
        *model_steps(),
        *transformation_steps(),
        post("/inferencer", inferencer, "inferencer created"),
        get("/inferencer", "inferencers listed"),
        upload("/inferencer/i", OBJECT, "inferencer object uploaded"),
        get("/inferencer/i", "inferencer object downloaded"),
        delete("/inferencer/i", "inferencer deleted"),
        post("/service", service, "service created"),
        get("/service", "services listed"),
        put("/service/meta/v", {**service, "description": 5}, "service meta replaced"),
        get("/service", "services listed again"),
        delete("/model/m/1", "model deleted"),
    ]


def answer(response: httpx.Response) -> dict[str, Any]:
    """Status, content type (None: no header) and body: JSON parsed, else text or base64."""
    recorded: dict[str, Any] = {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
    }
    if (recorded["content_type"] or "").startswith("application/json"):
        recorded["json"] = response.json()
    else:
        try:
            recorded["text"] = response.content.decode()
        except UnicodeDecodeError:
            recorded["base64"] = base64.b64encode(response.content).decode()
    return recorded


def send(client: httpx.Client, step: dict[str, Any]) -> httpx.Response:
    if "file" in step:
        data = base64.b64decode(step["file"])
        files = {"file": ("upload.bin", data, "application/octet-stream")}
        return client.request(step["method"], step["path"], files=files)
    if "json" in step:
        return client.request(step["method"], step["path"], json=step["json"])
    return client.request(step["method"], step["path"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"the original exited with code {proc.returncode}")
        try:
            httpx.get(url + "/openapi.json", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the original did not answer within 30 s")


def record(variant: str, source: Path, python: str) -> dict[str, Any]:
    db_port, port = free_port(), free_port()
    secantus = str(Path(sys.executable).parent / "secantusd-py")
    database = subprocess.Popen(
        [secantus, "--host", "127.0.0.1", "--port", str(db_port), "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "SERVER_PORT": str(port)}
    env.update(DB_ADDRESS="127.0.0.1", DB_PORT=str(db_port), PYTHONPATH=str(source))
    server = subprocess.Popen(
        [python, "-m", "uvicorn", "application.main:app", "--port", str(port)],
        cwd=source,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server)
        steps = fl_steps() if variant == "fl" else inference_steps()
        exchanges = []
        for step in steps:  # a connection each: the original drops one after a 500
            with httpx.Client(base_url=url, timeout=10) as client:
                exchanges.append({**step, "response": answer(send(client, step))})
    finally:
        for proc in (server, database):
            proc.kill()
            proc.wait(10)
    return {
        "original": f"Modular-ML-inference/component-repository@{COMMITS[variant]}",
        "recorded_with": "fastapi 0.83.0, pydantic 1.10.2, starlette 0.19.1, pymongo 4.2.0",
        "exchanges": exchanges,
    }


def main() -> None:
    variant, source, output = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    python = os.environ.get("ORIGINAL_PYTHON", "/tmp/orig-venv/bin/python")
    recorded = record(variant, source, python)
    output.write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"{len(recorded['exchanges'])} exchanges written to {output}")


if __name__ == "__main__":
    main()
