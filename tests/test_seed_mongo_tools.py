"""Our archives against the real mongodump and mongorestore (skipped where they are absent).

The tools are looked for on PATH, then in `../shared/tools` beside the repository.
"""

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from flrepo.seed.dump import dump
from flrepo.seed.errors import SeedError
from flrepo.seed.restore import restore
from gridfs import AsyncGridFSBucket
from seed_data import counts, populate, raw_snapshot
from seed_extras import add_extras, definitions, expected_extras

SHARED_TOOLS = Path(__file__).resolve().parents[1].parent / "shared" / "tools"


def tool(name: str) -> str:
    found = shutil.which(name) or (
        str(SHARED_TOOLS / name) if (SHARED_TOOLS / name).is_file() else None
    )
    if found is None:
        pytest.skip(f"{name} is not installed (PATH or {SHARED_TOOLS})")
    return found


async def run(*command: str) -> str:
    """Run a tool off the event loop; its combined output, or a failed test showing it."""
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


async def grid_bytes(mongo, db_name: str) -> dict[str, bytes]:
    bucket = AsyncGridFSBucket(mongo[db_name])
    out = {}
    async for file in bucket.find({}):
        stream = await bucket.open_download_stream(file._id)
        out[file.filename] = await stream.read()
    return out


@pytest.mark.parametrize("compress", [False, True])
async def test_mongorestore_restores_our_dump(
    compress,
    mongo,
    settings,
    target,
    mongodb_url,
    tmp_path,
):
    mongorestore = tool("mongorestore")
    files = await populate(mongo, settings)
    await add_extras(mongo, settings)
    path = tmp_path / "db.dump"
    await dump(settings.databases, mongodb_url, path, compress=compress)

    output = await run(
        mongorestore,
        f"--uri={mongodb_url}",
        f"--archive={path}",
        *(["--gzip"] if compress else []),
        "--nsFrom=repository.*",
        f"--nsTo={target.db_name}.*",
        "--nsFrom=repository_grid.*",
        f"--nsTo={target.grid_db_name}.*",
    )
    assert "0 document(s) failed to restore" in output
    assert "Cross-version" not in output  # the header's version is the server's release line
    source = await raw_snapshot(mongodb_url, settings)
    # never dumped: restoring an archive must not make a server trust its keys
    assert source.pop("db.signing_keys") == []
    assert await raw_snapshot(mongodb_url, target) == source
    assert await grid_bytes(mongo, target.grid_db_name) == files
    got = await definitions(mongo, target.db_name)
    for name, definition in expected_extras().items():
        assert got[name] == definition, name


@pytest.mark.parametrize("form", ["archive", "gzip archive", "directory", "gzip directory"])
async def test_we_restore_what_mongodump_writes(
    form,
    mongo,
    settings,
    mongodb_url,
    tmp_path,
):
    mongodump = tool("mongodump")
    files = await populate(mongo, settings)
    await add_extras(mongo, settings)
    before = await raw_snapshot(mongodb_url, settings)
    # mongodump takes one database per run (--db): a directory gets both, an archive each one
    places = []
    for db_name in (settings.db_name, settings.grid_db_name):
        where = tmp_path / "dump" if "directory" in form else tmp_path / f"{db_name}.dump"
        await run(
            mongodump,
            f"--uri={mongodb_url}",
            f"--db={db_name}",
            f"--out={where}" if "directory" in form else f"--archive={where}",
            *(["--gzip"] if "gzip" in form else []),
        )
        if where not in places:
            places.append(where)
    await mongo.drop_database(settings.db_name)
    await mongo.drop_database(settings.grid_db_name)

    for where in places:
        report = await restore(settings.databases, mongodb_url, where)
        assert report.namespaces
        assert all(r.complete for r in report.namespaces.values())
        assert all(r.crc_checked for r in report.namespaces.values()) is ("archive" in form)
    assert await raw_snapshot(mongodb_url, settings) == before
    assert await grid_bytes(mongo, settings.grid_db_name) == files
    got = await definitions(mongo, settings.db_name)
    for name, definition in expected_extras().items():
        assert got[name] == definition, name


async def test_an_archive_of_mongodump_oplog_is_refused(
    mongo,
    settings,
    target,
    mongodb_url,
    tmp_path,
):
    mongodump = tool("mongodump")
    await populate(mongo, settings)
    path = tmp_path / "oplog.dump"
    output = await run(mongodump, f"--uri={mongodb_url}", "--oplog", f"--archive={path}")
    assert "oplog" in output
    with pytest.raises(SeedError, match="holds an oplog"):
        await restore(target.databases, mongodb_url, path)
    assert await counts(mongo, target) == {}
