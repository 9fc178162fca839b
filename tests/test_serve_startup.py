"""`flrepo serve` start-up: seeding an empty repository (only an empty one), and each startup
mistake as one line on stderr with its own exit code, on the real command."""

import base64
import os
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from pymongo import MongoClient

from flrepo.embedded import DatabaseError, free_port, require_database
from flrepo.settings import Settings, env_names

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
        assert weights.status_code == 200 and base64.b64decode(weights.content, validate=True)
        httpx.delete(f"{url}/model/base2/1", timeout=10).raise_for_status()
    finally:
        stop(proc)

    proc, url = start(data, sample, tmp_path / "second.log")
    try:
        assert model_names(url) == ["base"]  # not seeded again over existing data
    finally:
        stop(proc)
    second = (tmp_path / "second.log").read_text()
    assert "not seeding" in second
    assert f"listening on {url} (GraphiQL" in second


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
    assert done.returncode == 78
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
    assert done.returncode == 65
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"flrepo: existing data in {settings.db_name}.strategies")
    assert "strategy_name" in last and "fedavg" in last


# --- startup mistakes: one line on stderr, a distinct exit code, nothing left behind ---------


def refused(args: list[str], cwd: Path, timeout: float = 60, **environ: str) -> str:
    """Run `flrepo serve ARGS`, expect it to refuse; its one stderr line, exit code checked."""
    done = subprocess.run(
        [FLREPO, "serve", *args],
        capture_output=True,
        text=True,
        env={**env(), **environ},
        cwd=cwd,
        timeout=timeout,
    )
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("flrepo: ")
    return f"{done.returncode} {lines[0]}"


def test_a_non_numeric_port_names_the_variable_actually_set(tmp_path):
    line = refused([], tmp_path, PORT="abc")
    assert line.startswith("78 flrepo: PORT='abc' is invalid")
    assert "FLREPO_PORT" not in line and "1 to 65535" in line
    assert refused([], tmp_path, FLREPO_PORT="70000").startswith(
        "78 flrepo: FLREPO_PORT='70000' is invalid"
    )
    assert refused(["--port", "x"], tmp_path, PORT="80").startswith(
        "78 flrepo: --port 'x' is invalid"
    )
    assert list(tmp_path.iterdir()) == []  # no data dir was created


def test_a_data_dir_under_a_regular_file_or_in_proc_is_refused(tmp_path):
    regular = tmp_path / "file"
    regular.write_text("not a folder")
    line = refused(["--port", str(free_port()), "--data-dir", str(regular / "data")], tmp_path)
    assert line.startswith(f"73 flrepo: the data dir {regular / 'data'} cannot be used")
    assert "--data-dir or FLREPO_DATA_DIR" in line
    line = refused(["--port", str(free_port())], tmp_path, FLREPO_DATA_DIR="/proc/flrepo-data")
    assert line.startswith("73 flrepo: the data dir /proc/flrepo-data cannot be used")


def test_a_port_in_use_is_refused_before_the_database_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        line = refused(["--data-dir", str(tmp_path / "data")], tmp_path, PORT=str(port))
        assert time.monotonic() - started < 20  # no database was started and waited for
    assert line == (
        f"75 flrepo: 127.0.0.1:{port} is already in use; stop the program listening there, "
        "or choose another port with --port or FLREPO_PORT"
    )
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_an_unreachable_mongodb_is_refused(tmp_path):
    url = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    line = refused(["--port", str(free_port()), "--mongodb-url", url], tmp_path, timeout=120)
    assert line.startswith("69 flrepo: MongoDB at 127.0.0.1:")
    assert "check FLREPO_MONGODB_URL (or --mongodb-url)" in line


def test_version_comes_from_the_package_metadata():
    done = subprocess.run([FLREPO, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.strip() == f"flrepo {version('flrepo')}"


def test_serve_help_lists_every_environment_variable():
    done = subprocess.run([FLREPO, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    lines = done.stdout.split("environment variables", 1)[1].splitlines()
    for field in Settings.model_fields:
        names = ", ".join(env_names(field))
        assert any(line.split("  ")[1:2] == [names] for line in lines), names
