"""`flrepo seed restore|dump` as a user runs them: exit codes, one-line errors, honest reports."""

import fcntl
import gzip
import re
import subprocess
import uuid
from pathlib import Path

import bson
import pytest
from flrepo.seed.archive import ArchiveWriter
from flrepo.seed.metadata import CollectionInfo, metadata_json
from flrepo.seed.sample.build import build_sample, sample_documents
from pymongo import MongoClient

from flrepo.cli.main import main
from flrepo.embedded import free_port, secantus_command, stop_process, wait_for_ping
from flrepo.settings import Settings


def counts(url: str, settings: Settings) -> dict[str, int]:
    out = {}
    with MongoClient(url) as client:
        for name in (settings.db_name, settings.grid_db_name):
            for coll in client[name].list_collection_names():
                if n := client[name][coll].count_documents({}):
                    out[f"{name}.{coll}"] = n
    return out


MODELS = [{"model_name": f"m{i}", "model_version": "1"} for i in range(3)]
STRATEGIES = [{"strategy_name": f"s{i}", "meta": {"k": "v" * 20}} for i in range(4)]
CHUNKS = [{"files_id": 1, "n": i, "data": bytes(100)} for i in range(2)]


def good_archive() -> bytes:
    """models complete first, then strategies and chunks interleaved, ends last."""
    infos = [
        CollectionInfo("repository", "models", metadata_json("models", [])),
        CollectionInfo("repository", "strategies", metadata_json("strategies", [])),
        CollectionInfo("repository_grid", "fs.chunks", metadata_json("fs.chunks", [])),
    ]
    path = Path(f"/tmp/seed-cli-{uuid.uuid4().hex}.dump")
    try:
        with path.open("wb") as out:
            writer = ArchiveWriter(out, infos)
            writer.write("repository", "models", [bson.encode(m) for m in MODELS])
            writer.end("repository", "models")
            writer.write("repository", "strategies", [bson.encode(s) for s in STRATEGIES[:2]])
            writer.write("repository_grid", "fs.chunks", [bson.encode(c) for c in CHUNKS])
            writer.write("repository", "strategies", [bson.encode(s) for s in STRATEGIES[2:]])
            writer.end("repository_grid", "fs.chunks")
            writer.end("repository", "strategies")
            writer.finish()
        return path.read_bytes()
    finally:
        path.unlink()


def _flip_in(data: bytes, needle: bytes, replacement: bytes) -> bytes:
    assert data.count(needle) == 1
    return data.replace(needle, replacement)


def _not_bson(data: bytes) -> bytes:
    raw = bson.encode(STRATEGIES[3])
    return _flip_in(data, raw, raw[:4] + b"\x77" + raw[5:])


GOOD = good_archive()
CORRUPT = {
    "bad magic": ("db.dump", b"\x00\x00" + GOOD[2:], "not a mongodump archive"),
    "crc mismatch": ("db.dump", _flip_in(GOOD, b"s3", b"sX"), "CRC mismatch for repository"),
    "truncated": ("db.dump", GOOD[: GOOD.index(b"s3")], "truncated"),
    "gz name, not gzip": ("db.dump.gz", b"just some text", "not gzip-compressed"),
    "not bson": ("db.dump", _not_bson(GOOD), "is not valid BSON"),
    "truncated gzip": ("db.dump.gz", gzip.compress(GOOD)[:-30], "truncated"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_archives_are_refused_in_one_line_and_reported_honestly(
    case, names, mongodb_url, tmp_path, capsys
):
    filename, data, reason = CORRUPT[case]
    path = tmp_path / filename
    path.write_bytes(data)
    code = main(["seed", "restore", str(path), "--mongodb-url", mongodb_url])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert all(line.startswith("flrepo seed: ") for line in lines), err
    assert reason in lines[0]
    # Every document left in the database is one the report names as complete.
    reported = {}
    complete = re.compile(r"flrepo seed: written before the failure: (\S+): (\d+) documents? \(")
    for line in lines[1:]:
        if m := complete.match(line):
            reported[m.group(1)] = int(m.group(2))
    assert counts(mongodb_url, names) == reported
    if case == "not bson":  # fails inside the last strategies segment, before the chunks end
        assert reported == {f"{names.db_name}.models": 3}
        assert f"{names.db_name}.strategies: 2 unverified documents, removed again" in err
        assert f"{names.grid_db_name}.fs.chunks: 2 unverified documents, removed again" in err
    if case == "crc mismatch":  # the chunks ended with a good checksum before that
        assert reported == {f"{names.db_name}.models": 3, f"{names.grid_db_name}.fs.chunks": 2}
        assert f"{names.db_name}.strategies: 4 unverified documents, removed again" in err
    if case in ("bad magic", "gz name, not gzip"):
        assert lines[1:] == ["flrepo seed: nothing was written"]


def test_chunks_that_ended_before_the_failure_stay_and_are_reported(
    names, mongodb_url, tmp_path, capsys
):
    path = tmp_path / "db.dump"
    path.write_bytes(_flip_in(GOOD, b"s3", b"sX"))
    assert main(["seed", "restore", str(path), "--mongodb-url", mongodb_url]) == 1
    err = capsys.readouterr().err
    assert f"{names.grid_db_name}.fs.chunks: 2 documents (complete, CRC verified)" in err
    assert counts(mongodb_url, names) == {
        f"{names.db_name}.models": 3,
        f"{names.grid_db_name}.fs.chunks": 2,
    }


def test_restore_and_dump_print_summaries(names, mongodb_url, tmp_path, capsys):
    sample = tmp_path / "sample.dump"
    build_sample(sample)
    assert main(["seed", "restore", str(sample), "--mongodb-url", mongodb_url]) == 0
    out = capsys.readouterr().out
    total = sum(len(d) for d in sample_documents().values())
    assert f"restored 6 namespaces from {sample}: {total} documents" in out
    assert f"repository.models -> {names.db_name}.models: 2 documents" in out

    assert main(["seed", "restore", str(sample), "--mongodb-url", mongodb_url]) == 0
    out = capsys.readouterr().out
    assert f"0 documents, 0 bytes, {total} skipped (their _id already existed)" in out

    archive = tmp_path / "out.dump.gz"
    assert main(["seed", "dump", str(archive), "--gzip", "--mongodb-url", mongodb_url]) == 0
    out = capsys.readouterr().out
    # the sample's six, and the empty services, inferencers, file revisions, runs, rounds,
    # aliases and alias moves the restore indexed, and the results' ranking rows
    assert f"dumped 14 namespaces to {archive} (gzip archive" in out
    assert "repository_grid.fs.chunks: 5 documents" in out
    assert archive.read_bytes()[:2] == b"\x1f\x8b"
    assert not list(tmp_path.glob(".*partial*"))


def test_restore_drop_via_cli(names, mongodb_url, tmp_path, capsys):
    sample = tmp_path / "sample.dump"
    build_sample(sample)
    with MongoClient(mongodb_url) as client:
        client[names.db_name].models.insert_one({"model_name": "old", "model_version": "1"})
    assert main(["seed", "restore", str(sample), "--drop", "--mongodb-url", mongodb_url]) == 0
    assert "(collections emptied first)" in capsys.readouterr().out
    assert counts(mongodb_url, names)[f"{names.db_name}.models"] == 2


def test_restore_if_empty_restores_only_into_an_empty_repository(
    names, mongodb_url, tmp_path, capsys
):
    sample = tmp_path / "sample.dump"
    build_sample(sample)
    command = ["seed", "restore", str(sample), "--if-empty", "--mongodb-url", mongodb_url]
    assert main(command) == 0
    assert "restored 6 namespaces" in capsys.readouterr().out
    with MongoClient(mongodb_url) as client:
        client[names.db_name].models.delete_many({"model_name": "base2"})
    assert main(command) == 0
    assert capsys.readouterr().out.strip() == "the repository already holds data; nothing restored"
    assert counts(mongodb_url, names)[f"{names.db_name}.models"] == 1  # not restored again


def test_missing_path_and_unreachable_database(names, tmp_path, capsys):
    assert main(["seed", "restore", str(tmp_path / "nope.dump"), "--mongodb-url", "x"]) == 1
    missing = tmp_path / "nope.dump"
    assert capsys.readouterr().err.strip() == f"flrepo seed: {missing} does not exist"
    sample = tmp_path / "s.dump"
    build_sample(sample)
    dead = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"
    assert main(["seed", "restore", str(sample), "--mongodb-url", dead]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flrepo seed: cannot reach the database")
    assert "Traceback" not in err
    assert main(["seed", "dump", str(tmp_path / "o.dump"), "--mongodb-url", dead]) == 1
    assert capsys.readouterr().err.startswith("flrepo seed: cannot read the database")
    assert not (tmp_path / "o.dump").exists()


@pytest.fixture
def embedded_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FLREPO_MONGODB_URL", "DB_ADDRESS"):
        monkeypatch.delenv(var, raising=False)


def test_refuses_a_data_dir_held_by_a_running_server(embedded_env, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    sample = tmp_path / "s.dump"
    build_sample(sample)
    with (data_dir / "flrepo.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("flrepo serve (pid 4242)\n")
        held.flush()
        code = main(["seed", "restore", str(sample), "--data-dir", str(data_dir)])
    err = capsys.readouterr().err
    assert code == 73  # the data dir is unusable (README: exit codes)
    assert err.strip().splitlines() == [
        f"flrepo: the data dir {data_dir.resolve()} is in use by flrepo serve (pid 4242); "
        "stop it first, or choose another folder with --data-dir"
    ]


def test_works_on_the_embedded_database(embedded_env, tmp_path, capsys):
    data_dir = tmp_path / "data"
    sample = tmp_path / "s.dump"
    build_sample(sample)
    assert main(["seed", "restore", str(sample), "--data-dir", str(data_dir)]) == 0
    assert "restored 6 namespaces" in capsys.readouterr().out
    out = tmp_path / "back.dump"
    assert main(["seed", "dump", str(out), "--data-dir", str(data_dir)]) == 0
    assert "repository.models: 2 documents" in capsys.readouterr().out
    assert out.stat().st_size > 0


def test_the_embedded_database_stops_cleanly_and_keeps_what_was_written(tmp_path):
    """The quick stop (SIGTERM to its main thread, accept loop woken) is SecantusDB's own
    orderly shutdown, not a kill: exit code 0, and the data is there after a restart."""

    def start() -> tuple[subprocess.Popen, int, str]:
        port = free_port()
        command = [secantus_command(), "--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(
            [*command, "--storage-path", str(tmp_path / "db"), "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL,
        )
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        wait_for_ping(url, 60, proc)
        return proc, port, url

    proc, port, url = start()
    try:
        with MongoClient(url) as client:
            client.repository.models.insert_one({"_id": 1, "model_name": "kept"})
    finally:
        stop_process(proc, address=("127.0.0.1", port))
    assert proc.returncode == 0
    proc, port, url = start()
    try:
        with MongoClient(url) as client:
            assert client.repository.models.find_one({"_id": 1}) == {"_id": 1, "model_name": "kept"}
    finally:
        stop_process(proc, address=("127.0.0.1", port))
    assert proc.returncode == 0
