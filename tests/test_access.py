"""Scoped tokens on both faces, anonymous defaults, cross-site writes, CORS, token management."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from flrepo.documents.errors import Forbidden
from flrepo.operations import tokens
from flrepo.operations.access import SCOPES, Caller, acting_as
from helpers import running_app, upload_request
from pydantic import SecretStr

from flrepo.app import create_app
from flrepo.middleware.access import anonymous_scopes
from flrepo.settings import Settings

ADMIN = "admin-secret-for-tests"
CREATE = "mutation($n: String!) { createStrategy(input: {strategyName: $n}) { strategyName } }"
DELETE = "mutation($n: String!) { deleteStrategy(strategyName: $n) }"
READ = "{ strategies { strategyName } }"
EVIL = "http://evil.example"


@contextlib.asynccontextmanager
async def server(
    settings: Settings, mongodb_url: str, **update
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with these settings changed; the admin secret is always set."""
    changed = settings.model_copy(update={"admin_token": SecretStr(ADMIN), **update})
    async with running_app(changed, mongodb_url) as client:
        yield client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def gql(client, query, headers=None, **variables):
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    return response.json()


def code(body) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


async def make_token(client, name, scopes, days=None) -> str:
    body = await gql(
        client,
        "mutation($n: String!, $s: [String!]!, $d: Int) { createToken(name: $n, scopes: $s, "
        "expiresDays: $d) { secret token { name scopes expires } } }",
        bearer(ADMIN),
        n=name,
        s=scopes,
        d=days,
    )
    assert "errors" not in body, body
    created = body["data"]["createToken"]
    assert created["token"]["scopes"] == scopes
    assert created["secret"].startswith("flr_")
    return created["secret"]


async def test_read_write_token_cannot_delete_on_either_face(settings, mongodb_url, db):
    async with server(settings, mongodb_url, anonymous_scopes="none") as client:
        secret = await make_token(client, "ci", ["read", "write"])
        assert "errors" not in await gql(client, CREATE, bearer(secret), n="s1")
        assert (
            await client.post("/strategy", json={"strategy_name": "s2"}, headers=bearer(secret))
        ).status_code == 201

        assert code(await gql(client, DELETE, bearer(secret), n="s1")) == "FORBIDDEN"
        refused = await client.delete("/strategy/s2", headers=bearer(secret))
        assert refused.status_code == 403, refused.text
        assert "delete" in refused.json()["detail"]
        assert await db["strategies"].count_documents({}) == 2

        deleter = await make_token(client, "cleaner", ["delete"])
        assert (await client.delete("/strategy/s2", headers=bearer(deleter))).status_code == 204
        assert (await gql(client, DELETE, bearer(deleter), n="s1"))["data"] == {
            "deleteStrategy": True
        }
        assert await db["strategies"].count_documents({}) == 0


async def test_missing_or_bad_token_is_401_or_unauthenticated(settings, mongodb_url, db):
    async with server(settings, mongodb_url, anonymous_scopes="none") as client:
        for headers in ({}, bearer("flr_not-a-token"), {"Authorization": "Basic dXNlcjpwdw=="}):
            response = await client.get("/strategy", headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert isinstance(response.json()["detail"], str)
            assert code(await gql(client, READ, headers)) == "UNAUTHENTICATED"
            assert code(await gql(client, CREATE, headers, n="x")) == "UNAUTHENTICATED"
        assert (await client.get("/strategy")).json() == {"detail": "Not authenticated"}
        assert await db["strategies"].count_documents({}) == 0
        # Health checks and the explorers need no token.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_file_downloads_need_the_read_scope(settings, mongodb_url):
    async with server(settings, mongodb_url, anonymous_scopes="write") as client:
        await gql(client, CREATE, n="f")
        headers, body = upload_request(
            'mutation($file: Upload!) { uploadStrategyFile(strategyName: "f", file: $file) '
            "{ strategyName } }",
            {},
            b"bytes",
        )
        assert (
            "errors"
            not in (await client.post("/graphql", content=b"".join(body), headers=headers)).json()
        )
        reader = await make_token(client, "r", ["read"])
        listed = await gql(
            client, '{ strategy(strategyName: "f") { file { downloadUrl } } }', bearer(reader)
        )
        url = listed["data"]["strategy"]["file"]["downloadUrl"]
        anonymous = await client.get(url)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert (await client.get(url, headers=bearer(reader))).content == b"bytes"
        writer = await make_token(client, "w", ["write"])
        assert (await client.get(url, headers=bearer(writer))).status_code == 403


async def test_a_bad_token_is_refused_even_where_anonymous_callers_may_act(settings, mongodb_url):
    async with server(settings, mongodb_url) as client:
        assert (await client.get("/strategy")).status_code == 200
        assert (await client.get("/strategy", headers=bearer("flr_wrong"))).status_code == 401


async def test_read_only_token_cannot_write_or_upload(settings, mongodb_url, db, grid):
    async with server(settings, mongodb_url, anonymous_scopes="none") as client:
        writer = await make_token(client, "writer", ["write"])
        reader = await make_token(client, "reader", ["read"])
        assert "errors" not in await gql(client, CREATE, bearer(writer), n="s")
        # A write-only token reads nothing.
        assert code(await gql(client, READ, bearer(writer))) == "FORBIDDEN"
        assert (await gql(client, READ, bearer(reader)))["data"] == {
            "strategies": [{"strategyName": "s"}]
        }
        assert code(await gql(client, CREATE, bearer(reader), n="t")) == "FORBIDDEN"
        headers, body = upload_request(
            'mutation($file: Upload!) { uploadStrategyFile(strategyName: "s", file: $file) '
            "{ strategyName } }",
            {},
            b"pickled",
        )
        response = await client.post(
            "/graphql", content=b"".join(body), headers={**headers, **bearer(reader)}
        )
        assert code(response.json()) == "FORBIDDEN"
        rest = await client.put(
            "/strategy/s", files={"file": ("s.pkl", b"pickled")}, headers=bearer(reader)
        )
        assert rest.status_code == 403, rest.text
        assert await grid["fs.files"].count_documents({}) == 0
        assert await db["strategies"].count_documents({}) == 1


async def test_expired_and_revoked_tokens_stop_working(settings, mongodb_url, db, monkeypatch):
    monkeypatch.setattr(tokens, "CACHE_TTL_S", 0.2)
    async with server(settings, mongodb_url, anonymous_scopes="none") as client:
        secret = await make_token(client, "temp", ["read"], days=1)
        assert (await client.get("/strategy", headers=bearer(secret))).status_code == 200
        stored = await db["tokens"].find_one({"name": "temp"})
        assert secret not in str(stored) and len(stored["sha256"]) == 64
        await db["tokens"].update_one({"name": "temp"}, {"$set": {"expires": stored["created"]}})
        await asyncio.sleep(0.2)  # a change made in the database is seen once the cache's TTL ends
        assert (await client.get("/strategy", headers=bearer(secret))).status_code == 401

        other = await make_token(client, "other", ["read"])
        assert (await gql(client, 'mutation { revokeToken(name: "other") }', bearer(ADMIN)))[
            "data"
        ] == {"revokeToken": True}
        assert (await client.get("/strategy", headers=bearer(other))).status_code == 401
        listed = await gql(client, "{ tokens { name scopes } }", bearer(ADMIN))
        assert listed["data"]["tokens"] == [{"name": "temp", "scopes": ["read"]}]


async def test_token_management_needs_admin(settings, mongodb_url, db):
    async with server(settings, mongodb_url) as client:  # loopback: anonymous read,write,delete
        made = 'mutation { createToken(name: "x", scopes: ["read"]) { secret } }'
        assert code(await gql(client, made)) == "UNAUTHENTICATED"
        writer = await make_token(client, "w", ["read", "write", "delete"])
        assert code(await gql(client, made, bearer(writer))) == "FORBIDDEN"
        assert code(await gql(client, "{ tokens { name } }", bearer(writer))) == "FORBIDDEN"
        assert code(await gql(client, 'mutation { revokeToken(name: "w") }')) == "UNAUTHENTICATED"
        bad = await gql(
            client,
            'mutation { createToken(name: "y", scopes: ["root"]) { secret } }',
            bearer(ADMIN),
        )
        assert code(bad) == "BAD_USER_INPUT"
        twice = await gql(
            client,
            'mutation { createToken(name: "w", scopes: ["read"]) { secret } }',
            bearer(ADMIN),
        )
        assert code(twice) == "ALREADY_EXISTS"
        assert await db["tokens"].count_documents({}) == 1


async def test_writes_and_deletes_are_logged_with_the_token_name(settings, mongodb_url, caplog):
    async with server(settings, mongodb_url) as client:
        secret = await make_token(client, "pipeline", ["read", "write", "delete"])
        with caplog.at_level(logging.INFO, logger="flrepo.audit"):
            assert (
                await client.post(
                    "/model", json={"model_name": "m", "model_version": "1"}, headers=bearer(secret)
                )
            ).status_code == 201
            await gql(client, 'mutation { deleteModel(modelName: "m", modelVersion: "1") }')
            await gql(client, READ, bearer(secret))
    lines = [r.getMessage() for r in caplog.records if r.name == "flrepo.audit"]
    assert lines == ["create_model by pipeline: 'm' '1'", "delete_model by anonymous: 'm' '1'"]


def test_anonymous_defaults_follow_the_listening_address():
    everything = frozenset({"read", "write", "delete"})
    assert anonymous_scopes(Settings(host="127.0.0.1", anonymous_scopes=None)) == everything
    assert anonymous_scopes(Settings(host="::1", anonymous_scopes=None)) == everything
    assert anonymous_scopes(Settings(host="localhost", anonymous_scopes=None)) == everything
    assert anonymous_scopes(Settings(host="0.0.0.0", anonymous_scopes=None)) == {"read"}
    assert anonymous_scopes(Settings(host="10.1.2.3", anonymous_scopes=None)) == {"read"}
    assert anonymous_scopes(Settings(host="0.0.0.0", anonymous_scopes="read, write")) == {
        "read",
        "write",
    }
    assert anonymous_scopes(Settings(host="127.0.0.1", anonymous_scopes="none")) == frozenset()
    with pytest.raises(ValueError, match="FLREPO_ANONYMOUS_SCOPES: unknown scope"):
        anonymous_scopes(Settings(anonymous_scopes="read,everything"))


def test_a_short_admin_token_is_refused_at_startup(settings, mongodb_url):
    with pytest.raises(ValueError, match="at least 16 characters"):
        create_app(settings.model_copy(update={"admin_token": SecretStr("short")}), mongodb_url)


async def test_listening_everywhere_lets_anonymous_callers_only_read(settings, mongodb_url, db):
    async with server(settings, mongodb_url, host="0.0.0.0", anonymous_scopes=None) as client:
        assert (await client.get("/model")).status_code == 200
        assert (
            await client.post("/model", json={"model_name": "m", "model_version": "1"})
        ).status_code == 401
        assert code(await gql(client, CREATE, n="s")) == "UNAUTHENTICATED"
        assert (
            await db["models"].count_documents({}) + await db["strategies"].count_documents({}) == 0
        )


async def test_evil_origin_cannot_write_or_delete(settings, mongodb_url, db):
    async with server(settings, mongodb_url) as client:  # anonymous may do everything
        assert "errors" not in await gql(client, CREATE, n="keep")
        evil = {"Origin": EVIL}
        # The multipart mutation of the report: no other header than Origin.
        headers, body = upload_request(DELETE, {"n": "keep"}, b"")
        response = await client.post(
            "/graphql", content=b"".join(body), headers={**headers, **evil}
        )
        assert code(response.json()) == "FORBIDDEN"
        assert EVIL in response.json()["errors"][0]["message"]
        assert code(await gql(client, CREATE, evil, n="new")) == "FORBIDDEN"
        for method, path, kwargs in (
            (
                "POST",
                "/model",
                {
                    "content": '{"model_name": "m", "model_version": "1"}',
                    "headers": {"Content-Type": "application/json"},
                },
            ),
            ("DELETE", "/strategy/keep", {}),
        ):
            kwargs["headers"] = {**kwargs.get("headers", {}), **evil}
            refused = await client.request(method, path, **kwargs)
            assert refused.status_code == 403, refused.text
        # A token does not help a cross-site request.
        refused = await client.delete("/strategy/keep", headers={**evil, **bearer(ADMIN)})
        assert refused.status_code == 403
        assert await db["strategies"].count_documents({}) == 1
        assert await db["models"].count_documents({}) == 0
        # Reading is allowed (the browser keeps the answer from the page without CORS).
        assert (await gql(client, READ, evil))["data"]["strategies"] == [{"strategyName": "keep"}]
        assert (
            "access-control-allow-origin"
            not in (await client.get("/strategy", headers=evil)).headers
        )


async def test_configured_and_own_origins_may_write(settings, mongodb_url, db):
    good = "https://dashboard.example"
    async with server(
        settings, mongodb_url, cors_origins=f"{good}, https://other.example"
    ) as client:
        assert "errors" not in await gql(client, CREATE, {"Origin": good}, n="a")
        own = {"Origin": "http://127.0.0.1:9012", "Host": "127.0.0.1:9012"}
        assert "errors" not in await gql(client, CREATE, own, n="b")
        # A domain name pointing here is not trusted: it could be rebound to this address.
        named = {"Origin": "http://evil.example:9012", "Host": "evil.example:9012"}
        assert code(await gql(client, CREATE, named, n="c")) == "FORBIDDEN"
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": good,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == good
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        answer = await client.get("/strategy", headers={"Origin": good})
        assert answer.headers["access-control-allow-origin"] == good
        foreign = await client.get("/strategy", headers={"Origin": EVIL})
        assert "access-control-allow-origin" not in foreign.headers
    assert await db["strategies"].count_documents({}) == 2


async def test_token_resolvers_refuse_without_admin_scope(settings, mongodb_url):
    async with server(settings, mongodb_url):
        someone = Caller("someone", frozenset({"read", "write", "delete"}), token=True)
        with acting_as(someone), pytest.raises(Forbidden, match="lacks the 'admin' scope"):
            await tokens.list_tokens()
        with acting_as(Caller("admin", frozenset(SCOPES), token=True)):
            assert await tokens.list_tokens() == []
