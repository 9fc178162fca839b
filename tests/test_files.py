"""Files over HTTP: streamed multipart uploads, downloads, replacement, aborts and limits."""

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bson import ObjectId
from flrepo.documents import chunk_writer
from helpers import (
    FILE_FIELDS,
    FilePart,
    GraphQL,
    grid_counts,
    multipart_chunks,
    only_error,
    running_app,
    split,
    upload_request,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHUNK = 255 * 1024  # GridFS's default chunk size
BIG = 6 * 1024 * 1024 + 12_345  # several chunks, the last one partial

CREATE = {
    "model": 'mutation { createModel(input: {modelName: "m", modelVersion: "1"}) { modelName } }',
    "result": 'mutation { createTrainingResult(input: {modelName: "m", modelVersion: "1", '
    'trainingId: "t"}) { trainingId } }',
    "strategy": 'mutation { createStrategy(input: {strategyName: "s"}) { strategyName } }',
    "transformation": 'mutation { createTransformation(input: {id: "x.y"}) { id } }',
}

UPLOAD = {
    "model": 'mutation($file: Upload!) { uploadModelFile(modelName: "m", modelVersion: "1", '
    f"file: $file) {{ file {{ {FILE_FIELDS} }} }} }}",
    "result": 'mutation($file: Upload!) { uploadTrainingWeights(modelName: "m", '
    'modelVersion: "1", trainingId: "t", configurationId: "c", file: $file) '
    f"{{ file: weights {{ {FILE_FIELDS} }} }} }}",
    "strategy": 'mutation($file: Upload!) { uploadStrategyFile(strategyName: "s", file: $file) '
    f"{{ file {{ {FILE_FIELDS} }} }} }}",
    "transformation": 'mutation($file: Upload!) { uploadTransformationFile(id: "x.y", '
    f"file: $file) {{ file {{ {FILE_FIELDS} }} }} }}",
}

MUTATION = {
    "model": "uploadModelFile",
    "result": "uploadTrainingWeights",
    "strategy": "uploadStrategyFile",
    "transformation": "uploadTransformationFile",
}

GET_MODEL_FILE = f'{{ model(modelName: "m", modelVersion: "1") {{ file {{ {FILE_FIELDS} }} }} }}'


@pytest.fixture
def flush_each_chunk(monkeypatch):
    """Have the file store write every chunk as it fills, not a few at a time.

    A partial upload then leaves chunks in the database, as a large one would, so the tests
    of aborted uploads see whether they are cleaned up.
    """
    monkeypatch.setattr(chunk_writer, "CHUNKS_PER_WRITE", 1)


async def upload(gql: GraphQL, kind: str, data: bytes, **kw) -> dict:
    """Upload `data` in 64 KiB pieces; the file the mutation returns."""
    result = await gql.upload_data(UPLOAD[kind], {}, split(data, 65_536), **kw)
    return result[MUTATION[kind]]["file"]


async def chunk_ids(grid) -> set:
    return {doc["files_id"] async for doc in grid["fs.chunks"].find({}, {"files_id": 1})}


async def test_several_megabytes_round_trip(gql, client, grid):
    await gql.data(CREATE["model"])
    data = os.urandom(BIG)
    file = await upload(gql, "model", data, content_type="application/x-hdf5")
    digest = hashlib.sha256(data).hexdigest()
    assert file["length"] == BIG
    assert file["sha256"] == digest
    assert file["contentType"] == "application/x-hdf5"
    assert file["filename"] == "model/m/1"
    uploaded = datetime.fromisoformat(file["uploadDate"])
    assert abs(datetime.now(UTC) - uploaded.replace(tzinfo=uploaded.tzinfo or UTC)) < timedelta(
        minutes=1
    )
    assert (await gql.data(GET_MODEL_FILE))["model"]["file"] == file
    assert await grid_counts(grid) == (1, -(-BIG // CHUNK))

    response = await client.get(file["downloadUrl"])
    assert response.status_code == 200
    assert len(response.content) == BIG
    assert hashlib.sha256(response.content).hexdigest() == digest
    assert response.headers["content-length"] == str(BIG)
    assert response.headers["content-type"] == "application/x-hdf5"
    assert response.headers["etag"] == f'"{digest}"'
    # the name the file was uploaded as, not the last segment of its GridFS name
    assert response.headers["content-disposition"].startswith('attachment; filename="upload.bin"')


async def test_download_of_a_file_sent_without_a_name_names_the_last_path_segment(gql, client):
    await gql.data('mutation { createTransformation(input: {id: "pkg.scale_é v2"}) { id } }')
    data = b"\x00\x01 transformation"
    result = await gql.upload_data(
        'mutation($file: Upload!) { uploadTransformationFile(id: "pkg.scale_é v2", file: $file) '
        f"{{ file {{ {FILE_FIELDS} uploadedName }} }} }}",
        {},
        data,
        content_type="application/python-pickle",
        filename="",
    )
    file = result["uploadTransformationFile"]["file"]
    assert file["filename"] == "transformation/pkg.scale_é v2"
    assert file["uploadedName"] is None
    response = await client.get(file["downloadUrl"])
    assert response.content == data
    assert response.headers["content-type"] == "application/python-pickle"
    assert response.headers["content-length"] == str(len(data))
    disposition = response.headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"pkg.scale__ v2\"; filename*=UTF-8''pkg.scale_%C3%A9%20v2"
    )


async def test_unsent_content_type_is_served_as_octet_stream(gql, client):
    await gql.data(CREATE["strategy"])
    headers, body = upload_request(UPLOAD["strategy"], {}, b"pickle")
    body_bytes = b"".join(body)
    # drop the file part's Content-Type header
    assert body_bytes.count(b"Content-Type: application/octet-stream\r\n") == 1
    body_bytes = body_bytes.replace(b"Content-Type: application/octet-stream\r\n", b"")
    response = await client.post("/graphql", content=body_bytes, headers=headers)
    file = response.json()["data"]["uploadStrategyFile"]["file"]
    assert file["contentType"] is None
    download = await client.get(file["downloadUrl"])
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.content == b"pickle"


async def test_etag_revalidation_and_missing_files(gql, client):
    await gql.data(CREATE["strategy"])
    file = await upload(gql, "strategy", b"abc")
    etag = f'"{hashlib.sha256(b"abc").hexdigest()}"'
    cached = await client.get(file["downloadUrl"], headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    stale = await client.get(file["downloadUrl"], headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    assert stale.content == b"abc"

    assert (await client.get(f"/files/{ObjectId()}")).status_code == 404
    assert (await client.get("/files/not-an-object-id")).status_code == 404


@pytest.mark.parametrize("kind", UPLOAD)
async def test_replacing_a_file_keeps_the_old_one_as_a_revision(gql, client, grid, db, kind):
    if kind == "result":
        await gql.data(CREATE["model"])
    await gql.data(CREATE[kind])
    old_data = os.urandom(3 * CHUNK + 10)
    old = await upload(gql, kind, old_data)
    assert await grid_counts(grid) == (1, 4)

    new_data = os.urandom(CHUNK + 1)
    new = await upload(gql, kind, new_data)
    assert new["id"] != old["id"]
    assert await grid_counts(grid) == (2, 6)
    assert await chunk_ids(grid) == {ObjectId(new["id"]), ObjectId(old["id"])}
    assert [r["file_id"] async for r in db.file_revisions.find()] == [old["id"]]
    assert (await client.get(old["downloadUrl"])).content == old_data
    assert (await client.get(new["downloadUrl"])).content == new_data


async def test_concurrent_replacements_keep_each_replaced_file_once(gql, client, grid, db):
    await gql.data(CREATE["model"])
    for round_ in range(1, 4):  # races are chancy: a few rounds
        # as many at once as one caller may upload at once (FLREPO_UPLOADS_PER_CALLER)
        blobs = [os.urandom(CHUNK + 1 + i) for i in range(4)]  # two chunks each
        await asyncio.gather(*(upload(gql, "model", blob) for blob in blobs))
        # (each reply shows its file, or null if another upload had replaced it already)
        current = (await gql.data(GET_MODEL_FILE))["model"]["file"]
        assert current["sha256"] in {hashlib.sha256(blob).hexdigest() for blob in blobs}
        # Every other file is a revision, each once: none lost, none orphaned.
        assert await grid_counts(grid) == (4 * round_, 8 * round_)
        kept = [r["file_id"] async for r in db.file_revisions.find()]
        assert len(kept) == len(set(kept)) == 4 * round_ - 1
        assert set(kept) | {current["id"]} == {str(i) for i in await chunk_ids(grid)}
        content = (await client.get(current["downloadUrl"])).content
        assert hashlib.sha256(content).hexdigest() == current["sha256"]


async def test_target_deleted_during_its_upload(gql, db, grid):
    await gql.data(CREATE["strategy"])
    delete_now = b"<delete now>"

    def pieces():
        yield b"first half"
        yield delete_now
        yield b"second half"

    class DeletingBody:
        """Deletes the strategy (as another client would) half way through the file."""

        def __init__(self) -> None:
            self.headers, self.chunks = upload_request(UPLOAD["strategy"], {}, pieces())

        async def __aiter__(self):
            for chunk in self.chunks:
                if chunk is delete_now:
                    await db.strategies.delete_one({"strategy_name": "s"})
                    continue
                yield chunk

    body = DeletingBody()
    response = await gql.client.post("/graphql", content=body, headers=body.headers)
    assert only_error(response.json())["extensions"]["code"] == "NOT_FOUND"
    assert await grid_counts(grid) == (0, 0)  # the file stored for it was removed


async def test_lengths_beyond_32_bits(gql, grid):
    """Long is a JSON number that may exceed 2**31 (a 5 GB model)."""
    await grid["fs.files"].insert_one(
        {
            "filename": "model/huge/1",
            "length": 5_000_000_000,
            "chunkSize": CHUNK,
            "uploadDate": datetime.now(UTC).replace(tzinfo=None),
        }
    )
    files = (await gql.data("{ files { filename length } }"))["files"]
    assert files == [{"filename": "model/huge/1", "length": 5_000_000_000}]


async def test_files_listing_oldest_first_with_prefix_and_pages(gql):
    for version in ("1", "2"):
        await gql.data(
            'mutation($v: String!) { createModel(input: {modelName: "a.b", modelVersion: $v}) '
            "{ modelName } }",
            v=version,
        )
    await gql.data(
        'mutation { createModel(input: {modelName: "aXb", modelVersion: "1"}) { modelName } }'
    )
    await gql.data(CREATE["strategy"])
    upload_model = (
        "mutation($n: String!, $v: String!, $file: Upload!) { uploadModelFile(modelName: $n, "
        "modelVersion: $v, file: $file) { modelName } }"
    )
    await gql.upload_data(upload_model, {"n": "a.b", "v": "2"}, b"1")
    await gql.upload_data(UPLOAD["strategy"], {}, b"22")
    await gql.upload_data(upload_model, {"n": "aXb", "v": "1"}, b"333")
    await gql.upload_data(upload_model, {"n": "a.b", "v": "1"}, b"4444")

    query = """query($prefix: String, $limit: Int, $offset: Int) {
      files(filenamePrefix: $prefix, limit: $limit, offset: $offset) { filename length } }"""

    async def names(**args) -> list[str]:
        return [f["filename"] for f in (await gql.data(query, **args))["files"]]

    everything = ["model/a.b/2", "strategy/s", "model/aXb/1", "model/a.b/1"]
    assert await names() == everything
    assert await names(prefix="model/") == ["model/a.b/2", "model/aXb/1", "model/a.b/1"]
    assert await names(prefix="model/a.b") == ["model/a.b/2", "model/a.b/1"]  # '.' is literal
    assert await names(prefix="strategy/") == ["strategy/s"]
    assert await names(prefix="nothing") == []
    assert await names(prefix=".*") == []
    assert await names(limit=2, offset=1) == everything[1:3]
    assert await names(offset=3) == everything[3:]

    files = (await gql.data("{ files { length uploadDate sha256 } }"))["files"]
    assert [f["length"] for f in files] == [1, 2, 3, 4]
    assert files[0]["sha256"] == hashlib.sha256(b"1").hexdigest()
    dates = [f["uploadDate"] for f in files]
    assert dates == sorted(dates)


async def test_upload_cut_off_mid_file_leaves_the_old_file(gql, client, grid, flush_each_chunk):
    await gql.data(CREATE["model"])
    old_data = os.urandom(2 * CHUNK)
    old = await upload(gql, "model", old_data)
    before = await grid_counts(grid)
    body = CutOffBody(os.urandom(BIG), BIG // 2, grid)
    response = await client.post("/graphql", content=body, headers=body.headers)
    assert response.status_code == 200
    error = only_error(response.json())
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "ended" in error["message"]
    assert body.chunks_seen > before[1]  # part of the new file had reached GridFS...

    assert await grid_counts(grid) == before  # ...and is gone again
    assert await chunk_ids(grid) == {ObjectId(old["id"])}
    assert (await gql.data(GET_MODEL_FILE))["model"]["file"] == old
    assert (await client.get(old["downloadUrl"])).content == old_data


class CutOffBody:
    """A model-file upload body that just ends once `stop_after` bytes are sent.

    Before it ends it notes how many chunks the grid database holds (`chunks_seen`).
    """

    def __init__(self, data: bytes, stop_after: int, grid) -> None:
        self.headers, self._chunks = upload_request(
            UPLOAD["model"], {}, split(data, 65_536), close=False
        )
        self.stop_after = stop_after
        self.grid = grid
        self.chunks_seen = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        for chunk in self._chunks:
            yield chunk
            sent += len(chunk)
            if sent > self.stop_after:
                self.chunks_seen = await self.grid["fs.chunks"].count_documents({})
                return


class DisconnectAfter:
    """Delivers the first `limit` body bytes, then tells the app the client went away.

    At that moment it notes how many chunks the grid database holds (`chunks_seen`).
    """

    def __init__(self, app: ASGIApp, limit: int, grid) -> None:
        self.app = app
        self.limit = limit
        self.grid = grid
        self.received = 0
        self.chunks_seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def cut_receive() -> Message:
            if self.received > self.limit:
                self.chunks_seen = await self.grid["fs.chunks"].count_documents({})
                return {"type": "http.disconnect"}
            message = await receive()
            self.received += len(message.get("body", b""))
            return message

        await self.app(scope, cut_receive, send)


async def test_client_disconnect_mid_upload_aborts_it(app, gql, client, grid, flush_each_chunk):
    await gql.data(CREATE["result"])
    old = await upload(gql, "result", b"old weights" * 1000)
    before = await grid_counts(grid)

    cutter = DisconnectAfter(app, 3 * CHUNK, grid)
    transport = httpx.ASGITransport(app=cutter)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as cut_client:
        headers, chunks = upload_request(UPLOAD["result"], {}, split(os.urandom(BIG), 65_536))

        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        response = await cut_client.post("/graphql", content=body(), headers=headers)
    assert cutter.chunks_seen >= before[1] + 2  # chunks of the new file reached GridFS...
    assert only_error(response.json())["path"] == ["uploadTrainingWeights"]
    assert await grid_counts(grid) == before  # ...and were removed again
    assert await chunk_ids(grid) == {ObjectId(old["id"])}
    weights = await gql.data(
        '{ trainingResult(modelName: "m", modelVersion: "1", trainingId: "t") '
        f"{{ weights {{ {FILE_FIELDS} }} }} }}"
    )
    assert weights["trainingResult"]["weights"] == old


@pytest.mark.parametrize("kind", UPLOAD)
async def test_oversized_upload_is_payload_too_large(
    settings, mongodb_url, grid, flush_each_chunk, kind
):
    limit = 2 * CHUNK + 1000  # chunks are written before the limit is reached
    small = settings.model_copy(update={"max_upload_bytes": limit})
    async with running_app(small, mongodb_url) as client:
        gql = GraphQL(client)
        if kind == "result":
            await gql.data(CREATE["model"])
        await gql.data(CREATE[kind])

        body = await gql.upload(UPLOAD[kind], {}, split(os.urandom(4 * CHUNK), 65_536))
        error = only_error(body)
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert str(limit) in error["message"]
        assert await grid_counts(grid) == (0, 0)

        exact = os.urandom(limit)
        file = await upload(gql, kind, exact)
        assert file["length"] == limit
        assert (await client.get(file["downloadUrl"])).content == exact

        body = await gql.upload(UPLOAD[kind], {}, os.urandom(limit + 1))
        assert only_error(body)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert await grid_counts(grid) == (1, 3)
        assert await chunk_ids(grid) == {ObjectId(file["id"])}


async def test_two_files_in_one_request_in_order(gql, client, grid):
    await gql.data(CREATE["model"])
    await gql.data(CREATE["strategy"])
    operations = {
        "query": """mutation($a: Upload!, $b: Upload!) {
          m: uploadModelFile(modelName: "m", modelVersion: "1", file: $a) { file { id sha256 } }
          s: uploadStrategyFile(strategyName: "s", file: $b) { file { id sha256 } } }""",
        "variables": {"a": None, "b": None},
    }
    a, b = os.urandom(CHUNK + 5), os.urandom(1000)
    parts = [
        FilePart("fa", "a.bin", "application/zip", [a]),
        FilePart("fb", "b.bin", "application/octet-stream", list(split(b, 7))),
    ]
    files_map = {"fa": ["variables.a"], "fb": ["variables.b"]}
    boundary = uuid.uuid4().hex
    body = b"".join(multipart_chunks(operations, files_map, parts, boundary))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    data = (await client.post("/graphql", content=body, headers=headers)).json()["data"]
    assert data["m"]["file"]["sha256"] == hashlib.sha256(a).hexdigest()
    assert data["s"]["file"]["sha256"] == hashlib.sha256(b).hexdigest()
    assert (await client.get(f"/files/{data['m']['file']['id']}")).content == a

    # files sent in the opposite order from their use: the first one is skipped by then
    reversed_body = b"".join(multipart_chunks(operations, files_map, parts[::-1], boundary))
    reply = (await client.post("/graphql", content=reversed_body, headers=headers)).json()
    error = only_error(reply)
    assert error["path"] == ["s"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "already read or skipped" in error["message"]
    model_file = (await gql.data(GET_MODEL_FILE))["model"]["file"]
    assert model_file["id"] != data["m"]["file"]["id"]  # the first mutation did run
    assert model_file["sha256"] == hashlib.sha256(a).hexdigest()
    strategy = await gql.data('{ strategy(strategyName: "s") { file { id } } }')
    assert strategy["strategy"]["file"]["id"] == data["s"]["file"]["id"]
    assert await grid_counts(grid) == (3, 5)  # the model's first file is kept as a revision


async def test_one_file_used_twice_is_refused_the_second_time(gql, client, grid):
    await gql.data(CREATE["model"])
    await gql.data(CREATE["strategy"])
    operations = {
        "query": """mutation($f: Upload!) {
          m: uploadModelFile(modelName: "m", modelVersion: "1", file: $f) { modelName }
          s: uploadStrategyFile(strategyName: "s", file: $f) { strategyName } }""",
        "variables": {"f": None},
    }
    boundary = uuid.uuid4().hex
    parts = [FilePart("0", "a.bin", "application/zip", [b"model bytes"])]
    body = b"".join(multipart_chunks(operations, {"0": ["variables.f"]}, parts, boundary))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = (await client.post("/graphql", content=body, headers=headers)).json()
    error = only_error(reply)
    assert error["path"] == ["s"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    model_file = (await gql.data(GET_MODEL_FILE))["model"]["file"]
    assert model_file["length"] == len(b"model bytes")
    strategy = await gql.data('{ strategy(strategyName: "s") { file { length } } }')
    assert strategy["strategy"]["file"] is None  # not an empty file
    assert await grid_counts(grid) == (1, 1)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--b--\r\n', "b"),
        (
            b'--b\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
            b"not json\r\n--b--\r\n",
            "b",
        ),
        (b"--b\r\n", None),
    ],
    ids=["map-first", "operations-not-json", "no-boundary"],
)
async def test_malformed_multipart_is_rejected(client, body, content_type):
    header = "multipart/form-data" + (f"; boundary={content_type}" if content_type else "")
    response = await client.post("/graphql", content=body, headers={"Content-Type": header})
    assert response.status_code == 400


async def test_map_naming_a_missing_file_part(gql, client, grid):
    await gql.data(CREATE["model"])
    boundary = uuid.uuid4().hex
    operations = {"query": UPLOAD["model"], "variables": {"file": None}}
    body = b"".join(multipart_chunks(operations, {"0": ["variables.file"]}, [], boundary))
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    reply = (await client.post("/graphql", content=body, headers=headers)).json()
    error = only_error(reply)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "missing" in error["message"]
    assert await grid_counts(grid) == (0, 0)


@pytest.mark.parametrize("files", [1, 2])
async def test_a_declared_oversize_upload_is_refused_before_its_body_is_read(
    settings, mongodb_url, grid, files
):
    limit = 1 << 20
    piece, pieces = os.urandom(65_536), 64  # a 4 MiB file against a 1 MiB limit
    small = settings.model_copy(update={"max_upload_bytes": limit})
    async with running_app(small, mongodb_url) as client:
        gql = GraphQL(client)
        await gql.data(CREATE["model"])
        pulled = 0

        def big_file():
            nonlocal pulled
            for _ in range(pieces):
                pulled += 1
                yield piece

        parts = [FilePart(str(i), "m.zip", "application/zip", big_file()) for i in range(files)]
        query = {"query": UPLOAD["model"], "variables": {"file": None}}
        files_map = {str(i): ["variables.file"] if i == 0 else [] for i in range(files)}
        framing = multipart_chunks(
            query,
            files_map,
            [FilePart(p.field, p.filename, p.content_type, []) for p in parts],
            "b" * 40,
        )
        length = sum(map(len, framing)) + files * pieces * len(piece)

        async def body() -> AsyncIterator[bytes]:
            for chunk in multipart_chunks(query, files_map, parts, "b" * 40):
                yield chunk

        headers = {
            "Content-Type": "multipart/form-data; boundary=" + "b" * 40,
            "Content-Length": str(length),
        }
        response = await client.post("/graphql", content=body(), headers=headers)
        assert only_error(response.json())["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert await grid_counts(grid) == (0, 0)
        if files == 1:  # the declared length alone shows the file is too large
            assert pulled < 4
        else:  # two files share the declared length: the limit is found while reading
            assert pulled > limit // len(piece)
