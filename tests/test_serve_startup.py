"""`flrepo serve` start-up: seeding an empty repository (only an empty one), refusing bad URLs."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from flrepo.embedded import DatabaseError, free_port, require_database

FLREPO = str(Path(sys.executable).parent / "flrepo")


def env() -> dict[str, str]:
    drop = {"HOST", "PORT", "DB_ADDRESS", "DB_PORT"}
    return {k: v for k, v in os.environ.items() if not k.startswith("FLREPO_") and k not in drop}


def start(data_dir: Path, archive: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FLREPO, "serve", "--port", str(port), "--data-dir", str(data_dir), "--seed", archive],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env(),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"flrepo serve did not start:\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def model_names(url: str) -> list[str]:
    response = httpx.get(f"{url}/model", timeout=10)
    assert response.status_code == 200
    return sorted(m["model_name"] for m in response.json())


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.dump"
    subprocess.run([sys.executable, "-m", "flrepo.seed.sample", str(path)], check=True)
    return path


def test_serve_seeds_an_empty_repository_and_leaves_a_full_one(sample, tmp_path):
    data = tmp_path / "data"
    proc, url = start(data, sample, tmp_path / "first.log")
    try:
        assert model_names(url) == ["base", "base2"]
        weights = httpx.get(f"{url}/training-results/weights/base/1/1", timeout=10)
        assert weights.status_code == 200 and len(weights.json()) > 0
        httpx.delete(f"{url}/model/base2/1", timeout=10).raise_for_status()
    finally:
        stop(proc)

    proc, url = start(data, sample, tmp_path / "second.log")
    try:
        assert model_names(url) == ["base"]  # not seeded again over existing data
    finally:
        stop(proc)
    assert "not seeding" in (tmp_path / "second.log").read_text()


def test_serve_refuses_a_damaged_seed_archive(sample, tmp_path):
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(sample.read_bytes()[:-100])
    done = subprocess.run(
        [
            FLREPO,
            "serve",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
            "--seed",
            str(damaged),
        ],
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "flrepo seed:" in done.stderr and "damaged.dump" in done.stderr


def test_serve_refuses_an_invalid_mongodb_url_in_one_line(tmp_path):
    done = subprocess.run(
        [FLREPO, "serve", "--port", str(free_port()), "--mongodb-url", "mongo://nowhere"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("flrepo: the MongoDB URL is not valid")
    assert "Traceback" not in done.stderr


def test_an_unreachable_mongodb_is_named_without_credentials():
    url = f"mongodb://user:secret@127.0.0.1:{free_port()}/?directConnection=true"
    with pytest.raises(DatabaseError) as caught:
        require_database(url, timeout_s=1)
    message = str(caught.value)
    assert f"MongoDB at 127.0.0.1:{url.split(':')[-1].split('/')[0]} did not answer" in message
    assert "secret" not in message


def test_serve_names_existing_duplicates_instead_of_a_traceback(settings, mongodb_url):
    with MongoClient(mongodb_url) as client:
        client[settings.db_name]["strategies"].insert_many(
            [{"strategy_name": "fedavg"}, {"strategy_name": "fedavg"}]
        )
    done = subprocess.run(
        [FLREPO, "serve", "--port", str(free_port()), "--mongodb-url", mongodb_url],
        capture_output=True,
        text=True,
        env={**env(), "FLREPO_DB_NAME": settings.db_name},
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"flrepo: existing data in {settings.db_name}.strategies")
    assert "strategy_name" in last and "fedavg" in last
