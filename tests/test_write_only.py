"""A write-only token sees no data: of a mutation's answer only the keys it sent; anything
else answers FORBIDDEN on the field, while the write itself happens. REST writes answer with
no body."""

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from flrepo.graph.permissions import NeedsRead
from flrepo.graph.schema import Mutation
from helpers import running_app, upload_request
from pydantic import SecretStr
from revision_kinds import KINDS, Kind

from flrepo.settings import Settings

ADMIN = "admin-secret-for-write-only-tests"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@contextlib.asynccontextmanager
async def server(settings: Settings, mongodb_url: str) -> AsyncIterator[httpx.AsyncClient]:
    changed = settings.model_copy(
        update={"admin_token": SecretStr(ADMIN), "anonymous_scopes": "none"}
    )
    async with running_app(changed, mongodb_url) as client:
        yield client


async def post(client, query, secret, **variables) -> dict:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=bearer(secret)
    )
    assert response.status_code == 200, response.text
    return response.json()


async def token(client, name: str, scopes: list[str]) -> str:
    query = "mutation($n: String!, $s: [String!]!) { createToken(name: $n, scopes: $s) { secret } }"
    body = await post(client, query, ADMIN, n=name, s=scopes)
    return body["data"]["createToken"]["secret"]


def codes(body: dict) -> dict[tuple, str]:
    """Each error's path, with its code."""
    return {tuple(e["path"]): e["extensions"]["code"] for e in body.get("errors") or []}


@pytest.fixture
async def writer(settings, mongodb_url):
    async with server(settings, mongodb_url) as client:
        yield client, await token(client, "w", ["write"]), await token(client, "r", ["read"])


async def test_create_training_result_answers_keys_only(writer):
    client, secret, reader = writer
    assert "errors" not in await post(
        client,
        'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) '
        "{ modelName modelVersion } }",
        secret,
    )
    create = (
        'mutation { createTrainingResult(input: {modelName: "m", modelVersion: "1", '
        'trainingId: "t%d", configurationId: "c", results: {acc: "0.9"}}) { %s } }'
    )
    keys = await post(client, create % (0, "modelName modelVersion trainingId"), secret)
    assert keys == {
        "data": {
            "createTrainingResult": {"modelName": "m", "modelVersion": "1", "trainingId": "t0"}
        }
    }
    # The attack: the results of every training of the model, through the nested model.
    nested = await post(
        client,
        create % (1, "trainingId model { trainingResults { results } }"),
        secret,
    )
    assert codes(nested) == {("createTrainingResult", "model"): "FORBIDDEN"}
    assert nested["data"]["createTrainingResult"] == {"trainingId": "t1", "model": None}
    for field in ("results", "configurationId", "weights { id }", "revisions { id }"):
        body = await post(client, create % (hash(field) % 1000 + 2, field), secret)
        assert set(codes(body).values()) == {"FORBIDDEN"}, (field, body)
        assert "0.9" not in str(body["data"])
    # Every write happened.
    listed = await post(
        client,
        '{ model(modelName: "m", modelVersion: "1") '
        "{ trainingResults(limit: 100) { trainingId } } }",
        reader,
    )
    assert len(listed["data"]["model"]["trainingResults"]) == 6


@pytest.mark.parametrize("name", list(KINDS))
async def test_uploads_answer_no_file_safety_or_url(writer, name):
    client, secret, reader = writer
    kind: Kind = KINDS[name]
    await kind.create(client, bearer(secret))
    assert (await kind.upload(client, b"first", bearer(secret))).status_code == 204
    args = kind.args + ", file: $file"
    mutation = {
        "model": "uploadModelFile",
        "weights": "uploadTrainingWeights",
        "strategy": "uploadStrategyFile",
        "transformation": "uploadTransformationFile",
        "service": "uploadServiceFile",
        "inferencer": "uploadInferencerFile",
    }[name]
    if name == "weights":
        args += ', configurationId: "c"'
    fields = f"{kind.keys} {kind.files} {{ id downloadUrl safety {{ verdict }} }}"
    query = f"mutation($file: Upload!) {{ doc: {mutation}({args}) {{ {fields} }} }}"
    headers, body = upload_request(query, {}, b"second")
    response = await client.post(
        "/graphql", content=b"".join(body), headers={**headers, **bearer(secret)}
    )
    answer = response.json()
    assert codes(answer) == {("doc", kind.files): "FORBIDDEN"}
    shown = answer["data"]["doc"]
    assert shown.pop(kind.files) is None and set(shown.values()) <= {
        "m",
        "1",
        "t",
        "s",
        "x",
        "v",
        "i",
    }
    assert "/files/" not in str(answer) and "SAFE" not in str(answer)
    # The upload happened, and the first file is a revision the reader sees.
    seen = await post(client, kind.query(f"{kind.files} {{ length }} revisions {{ id }}"), reader)
    assert seen["data"]["doc"][kind.files]["length"] == len(b"second")
    [revision] = seen["data"]["doc"]["revisions"]
    # Restore answers keys only as well; purging needs the delete scope.
    restored = await post(
        client, kind.restore_mutation(f"{kind.keys} revisions {{ id }}"), secret, r=revision["id"]
    )
    # `revisions` is a non-null list: its error nulls the answer, as GraphQL has it.
    assert codes(restored) == {("doc", "revisions"): "FORBIDDEN"} and restored["data"] is None
    again = await post(client, kind.query("revisions { id }"), reader)
    [now] = again["data"]["doc"]["revisions"]
    purge = "mutation($r: ID!) { purgeRevision(revision: $r) }"
    assert codes(await post(client, purge, secret, r=now["id"])) == {
        ("purgeRevision",): "FORBIDDEN"
    }
    assert codes(await post(client, purge, reader, r=now["id"])) == {
        ("purgeRevision",): "FORBIDDEN"
    }
    deleter = await token(client, f"d-{name}", ["delete"])
    assert (await post(client, purge, deleter, r=now["id"]))["data"] == {"purgeRevision": True}


async def test_meta_updates_answer_no_stored_data(writer):
    client, secret, _ = writer
    await KINDS["strategy"].create(client, bearer(secret))
    body = await post(
        client,
        'mutation { updateStrategyMeta(strategyName: "s", meta: {a: 1}) '
        "{ strategyName strategyDescription meta file { id } } }",
        secret,
    )
    assert codes(body) == {
        ("updateStrategyMeta", f): "FORBIDDEN" for f in ("strategyDescription", "meta", "file")
    }
    assert body["data"]["updateStrategyMeta"]["strategyName"] == "s"


async def test_a_write_only_token_cannot_subscribe(writer):
    client, secret, _ = writer
    # Over HTTP a subscription is refused too; the WebSocket path checks the same permission.
    body = await post(client, "subscription { trainingResultAdded { results } }", secret)
    assert body.get("data") is None and body.get("errors"), body


async def test_rest_writes_answer_no_body(writer):
    client, secret, _ = writer
    headers = bearer(secret)
    for kind in KINDS.values():
        response = await client.post(kind.create_path, json=kind.body, headers=headers)
        assert response.status_code == 201 and response.content in (b"", b"null"), response.text
        uploaded = await kind.upload(client, b"bytes", headers)
        assert uploaded.status_code == 204 and uploaded.content == b""
    meta = await client.put("/model/meta/m/1", json={"library": "x"}, headers=headers)
    assert meta.status_code == 204 and meta.content == b""


def test_every_field_of_a_mutation_answer_is_guarded_but_the_keys():
    """Fail closed: a field added to a type that mutations answer with needs read unless it
    is named as a key."""
    keys = {
        "Model": {"model_name", "model_version"},
        "TrainingResult": {"model_name", "model_version", "training_id"},
        "Strategy": {"strategy_name"},
        "Transformation": {"transformation_id"},
        "Service": {"service_id"},
        "Inferencer": {"inferencer_id"},
        "CreatedToken": {"token", "secret"},  # admin only: answered to whom made the token
        "ApiToken": {"name", "scopes", "created", "expires"},
        "TrainingRun": {"model_name", "model_version", "training_id"},
        "Round": {"model_name", "model_version", "training_id", "number"},
        "ModelAlias": {"model_name", "alias", "model_version"},
    }
    seen = set()
    for field in Mutation.__strawberry_definition__.fields:
        kind = field.type
        definition = getattr(kind, "__strawberry_definition__", None)
        if definition is None:
            continue  # a scalar answer
        seen.add(definition.name)
        for inner in definition.fields:
            guarded = any(isinstance(e, NeedsRead) for e in inner.extensions)
            assert guarded or inner.python_name in keys[definition.name], (
                definition.name,
                inner.python_name,
            )
    assert {"Model", "TrainingResult", "Strategy", "Transformation"} <= seen
