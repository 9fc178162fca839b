"""Named model versions: any alias needs `write`, a protected one (`production` by default)
`promote` (or `admin`); every move is kept in a history; `best` and `latest` are derived."""

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator

import httpx
from helpers import running_app
from pydantic import SecretStr
from rest_fixtures import flrepo_command

from flrepo.settings import Settings

ADMIN = "admin-secret-for-alias-tests"
MOVE = """mutation($alias: String!, $version: String!) {
  moveAlias(modelName: "m", alias: $alias, modelVersion: $version) {
    alias modelVersion movedBy model { modelVersion } } }"""
HISTORY = """query($alias: String) { aliasHistory(modelName: "m", alias: $alias) {
  alias fromVersion toVersion movedBy movedAt } }"""


@contextlib.asynccontextmanager
async def server(
    settings: Settings, mongodb_url: str, **update
) -> AsyncIterator[httpx.AsyncClient]:
    changed = settings.model_copy(
        update={"admin_token": SecretStr(ADMIN), "anonymous_scopes": "read", **update}
    )
    async with running_app(changed, mongodb_url) as client:
        yield client


async def post(client, query, secret=ADMIN, **variables) -> dict:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {secret}"} if secret else {},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def token(client, name: str, scopes: list[str]) -> str:
    body = await post(
        client,
        "mutation($n: String!, $s: [String!]!) { createToken(name: $n, scopes: $s) { secret } }",
        n=name,
        s=scopes,
    )
    assert "errors" not in body, body
    return body["data"]["createToken"]["secret"]


async def models(client) -> None:
    for version in ("1", "2", "3"):
        body = await post(
            client,
            'mutation($v: String!) { createModel(input: {modelName: "m", modelVersion: $v}) '
            "{ modelName } }",
            v=version,
        )
        assert "errors" not in body, body


def code(body: dict) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


async def test_protected_aliases_need_promote_others_write(settings, mongodb_url):
    async with server(settings, mongodb_url) as client:
        await models(client)
        writer = await token(client, "writer", ["read", "write"])
        promoter = await token(client, "promoter", ["read", "promote"])
        moved = await post(client, MOVE, writer, alias="candidate", version="2")
        assert moved["data"]["moveAlias"] == {
            "alias": "candidate",
            "modelVersion": "2",
            "movedBy": "writer",
            "model": {"modelVersion": "2"},
        }
        refused = await post(client, MOVE, writer, alias="production", version="2")
        assert code(refused) == "FORBIDDEN"
        assert "promote" in refused["errors"][0]["message"]
        assert code(await post(client, MOVE, None, alias="candidate", version="3")) == (
            "UNAUTHENTICATED"
        )
        assert code(await post(client, MOVE, promoter, alias="candidate", version="3")) == (
            "FORBIDDEN"  # promote moves protected aliases only; others need write
        )
        promoted = await post(client, MOVE, promoter, alias="production", version="2")
        assert promoted["data"]["moveAlias"]["movedBy"] == "promoter"
        by_admin = await post(client, MOVE, ADMIN, alias="production", version="3")
        assert by_admin["data"]["moveAlias"]["modelVersion"] == "3"
        admin_only = await token(client, "admin-only", ["admin"])
        again = await post(client, MOVE, admin_only, alias="production", version="1")
        # moved (the history below shows it); without `read` the answer shows no data
        assert {e["extensions"]["code"] for e in again["errors"]} == {"FORBIDDEN"}, again
        history = await post(client, HISTORY, alias="production")
        moves = [
            (m["fromVersion"], m["toVersion"], m["movedBy"])
            for m in history["data"]["aliasHistory"]
        ]
        assert moves == [
            ("3", "1", "admin-only"),
            ("2", "3", "admin (FLREPO_ADMIN_TOKEN)"),
            (None, "2", "promoter"),
        ]
        listed = await post(client, '{ modelAliases(modelName: "m") { alias modelVersion } }')
        assert listed["data"]["modelAliases"] == [
            {"alias": "candidate", "modelVersion": "2"},
            {"alias": "production", "modelVersion": "1"},
        ]


async def test_the_protected_aliases_are_configurable(settings, mongodb_url):
    async with server(settings, mongodb_url, protected_aliases="production,staging") as client:
        await models(client)
        writer = await token(client, "writer", ["read", "write"])
        assert code(await post(client, MOVE, writer, alias="staging", version="1")) == ("FORBIDDEN")
        assert "errors" not in await post(client, MOVE, writer, alias="candidate", version="1")


async def test_moves_that_change_nothing_or_name_nothing(settings, mongodb_url, db):
    async with server(settings, mongodb_url) as client:
        await models(client)
        for _ in range(2):
            assert "errors" not in await post(client, MOVE, alias="candidate", version="1")
        assert await db.alias_moves.count_documents({}) == 1  # the same place: no move
        assert code(await post(client, MOVE, alias="candidate", version="9")) == "NOT_FOUND"
        for derived in ("best", "latest", "Latest"):
            assert code(await post(client, MOVE, alias=derived, version="1")) == "BAD_USER_INPUT"
        assert code(await post(client, MOVE, alias="a/b", version="1")) == "BAD_USER_INPUT"
        assert await db.alias_moves.count_documents({}) == 1


async def test_tokens_can_be_created_with_the_promote_scope(settings, mongodb_url, db):
    env = {**os.environ, "FLREPO_DB_NAME": settings.db_name}
    command = [flrepo_command(), "token", "create", "release", "--scopes", "read,promote"]
    made = subprocess.run(
        [*command, "--mongodb-url", mongodb_url],
        env={**env, "FLREPO_GRID_DB_NAME": settings.grid_db_name},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    assert (await db.tokens.find_one({"name": "release"}))["scopes"] == ["read", "promote"]
