"""`flrepo token create|list|revoke` against the database a server uses."""

import asyncio
import os
import subprocess
import time

from flrepo.operations import tokens
from helpers import running_app
from rest_fixtures import flrepo_command


def flrepo_token(settings, mongodb_url, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FLREPO_DB_NAME": settings.db_name,
        "FLREPO_GRID_DB_NAME": settings.grid_db_name,
    }
    return subprocess.run(
        [flrepo_command(), "token", *args, "--mongodb-url", mongodb_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_list_and_revoke(settings, mongodb_url, db):
    made = flrepo_token(settings, mongodb_url, "create", "ci", "--scopes", "read,write")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("flr_") and len(secret) > 40
    assert "read,write" in made.stdout and "never expires" in made.stdout
    stored = await db["tokens"].find_one({"name": "ci"})
    assert stored["scopes"] == ["read", "write"] and secret not in str(stored)

    dated = flrepo_token(
        settings, mongodb_url, "create", "short", "--scopes", "read", "--expires", "7"
    )
    assert dated.returncode == 0 and "expires" in dated.stdout

    listed = flrepo_token(settings, mongodb_url, "list")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["ci", "read,write"], ["short", "read"]]
    assert secret not in listed.stdout

    closed = settings.model_copy(update={"anonymous_scopes": "none"})
    auth = {"Authorization": f"Bearer {secret}"}
    async with running_app(closed, mongodb_url) as client:
        assert (
            await client.post(
                "/model", json={"model_name": "m", "model_version": "1"}, headers=auth
            )
        ).status_code == 201
        assert (await client.delete("/model/m/1", headers=auth)).status_code == 403
        assert (await client.get("/model", headers=auth)).status_code == 200

        revoked = flrepo_token(settings, mongodb_url, "revoke", "ci")
        assert revoked.returncode == 0, revoked.stderr
        # Another process revoked it: the server sees it once its cache's TTL has passed.
        deadline = time.monotonic() + tokens.CACHE_TTL_S + 1
        while (await client.get("/model", headers=auth)).status_code != 401:
            assert time.monotonic() < deadline, "the revoked token still works"
            await asyncio.sleep(0.1)


def test_bad_requests_say_what_is_wrong(settings, mongodb_url):
    unknown = flrepo_token(settings, mongodb_url, "create", "x", "--scopes", "read,root")
    assert unknown.returncode == 1 and "unknown scope(s) root" in unknown.stderr
    empty = flrepo_token(settings, mongodb_url, "create", "x", "--scopes", "none")
    assert empty.returncode == 1 and "scopes" in empty.stderr
    missing = flrepo_token(settings, mongodb_url, "revoke", "nobody")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert flrepo_token(settings, mongodb_url, "create", "x", "--scopes", "admin").returncode == 0
    twice = flrepo_token(settings, mongodb_url, "create", "x", "--scopes", "read")
    assert twice.returncode == 1 and "already exists" in twice.stderr
