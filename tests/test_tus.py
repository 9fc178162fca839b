"""Resumable uploads by tus 1.0 at /uploads/, driven by the real tuspy client."""

import base64
import hashlib
import io
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from bson import ObjectId
from rest_fixtures import SMALL_UPLOAD_LIMIT, assert_created, put_file, running_server
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

pytest_plugins = ["rest_fixtures"]

CHUNK = 255 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


def tus_client(server, headers: dict[str, str] | None = None) -> TusClient:
    return TusClient(server("/uploads/"), headers=headers)


def create_model(server, name: str) -> None:
    body = {"model_name": name, "model_version": "1"}
    assert_created(requests.post(server("/model"), json=body))


def model_metadata(name: str, filename: str = "weights.h5") -> dict[str, str]:
    return {"kind": "model", "model_name": name, "model_version": "1", "filename": filename}


def digest_field(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


UPLOAD_OIDS: dict[str, ObjectId] = {}  # tus id -> `_id`, kept once the upload is gone


def chunks_of(server, upload_url: str) -> int:
    tus_id = upload_url.rstrip("/").rsplit("/", 1)[-1]
    if tus_id not in UPLOAD_OIDS:
        UPLOAD_OIDS[tus_id] = server.grid["resumable_uploads"].find_one({"tusId": tus_id})["_id"]
    return server.grid["fs.chunks"].count_documents({"files_id": UPLOAD_OIDS[tus_id]})


def head(url: str) -> requests.Response:
    return requests.head(url, headers=TUS)


def test_options_names_what_the_server_supports(rest_server):
    response = requests.options(rest_server("/uploads/"))
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = set(response.headers["tus-extension"].split(","))
    assert {"creation", "termination", "expiration", "checksum"} <= extensions
    assert "sha256" in response.headers["tus-checksum-algorithm"].split(",")
    assert int(response.headers["tus-max-size"]) > 0


def test_an_upload_interrupted_at_half_resumes_and_completes(rest_server, uid):
    create_model(rest_server, uid)
    data = os.urandom(8 * CHUNK + 12_345)
    client = tus_client(rest_server)
    first = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=300_000, metadata=model_metadata(uid)
    )
    while first.offset < len(data) // 2:
        first.upload_chunk()  # the link drops after this
    url = first.url
    stopped_at = first.offset
    assert head(url).headers["upload-offset"] == str(stopped_at)
    assert requests.get(rest_server(f"/model/{uid}/1")).status_code == 404  # nothing yet

    second = client.uploader(file_stream=io.BytesIO(data), url=url, chunk_size=1_000_000)
    assert second.offset == stopped_at  # asked the server where to go on
    second.upload()

    download = requests.get(rest_server(f"/model/{uid}/1"))
    assert download.content == data
    assert download.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert 'filename="weights.h5"' in download.headers["content-disposition"]
    stored = rest_server.grid["fs.files"].find_one({"filename": f"model/{uid}/1"})
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert stored["length"] == len(data)
    assert stored["chunkSize"] == CHUNK
    assert stored["uploadedName"] == "weights.h5"
    assert rest_server.db.models.find_one({"model_name": uid})["model_id"] == str(stored["_id"])
    # the upload's record says it is complete, for a client that lost the last answer
    done = head(url)
    assert done.headers["upload-offset"] == done.headers["upload-length"] == str(len(data))


def test_a_dropped_connection_keeps_the_bytes_that_arrived(rest_server, uid):
    create_model(rest_server, uid)
    data = os.urandom(4 * CHUNK + 777)
    client = tus_client(rest_server)
    uploader = client.uploader(file_stream=io.BytesIO(data), metadata=model_metadata(uid))
    url = uploader.create_url()
    sent = len(data) // 2 + 1001  # not on a chunk boundary
    path = urlsplit(url).path
    host, port = urlsplit(rest_server.url).hostname, urlsplit(rest_server.url).port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data[:sent]
        )
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while head(url).headers["upload-offset"] != str(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert head(url).headers["upload-offset"] == str(sent)

    resumed = client.uploader(file_stream=io.BytesIO(data), url=url, chunk_size=CHUNK)
    resumed.upload()
    assert requests.get(rest_server(f"/model/{uid}/1")).content == data


def test_every_kind_is_stored_as_its_put_would_store_it(rest_server, uid):
    s = rest_server
    create_model(s, uid)
    assert_created(
        requests.post(
            s("/training-results"),
            json={"model_name": uid, "model_version": "1", "training_id": "t"},
        )
    )
    assert_created(requests.post(s("/strategy"), json={"strategy_name": uid}))
    assert_created(requests.post(s("/transformation"), json={"id": uid}))
    kinds = {
        "weights": (
            {"model_name": uid, "model_version": "1", "training_id": "t", "configuration_id": "c"},
            f"/training-results/{uid}/1/t/c",
            f"weights/{uid}/1/c",
        ),
        "strategy": ({"strategy_name": uid}, f"/strategy/{uid}", f"strategy/{uid}"),
        "transformation": (
            {"transformation_id": uid},
            f"/transformation/{uid}",
            f"transformation/{uid}",
        ),
    }
    for kind, (keys, put_path, filename) in kinds.items():
        data = os.urandom(CHUNK + 5)
        assert put_file(s(put_path), data).status_code == 204
        by_put = s.grid["fs.files"].find_one({"filename": filename})
        uploader = tus_client(s).uploader(
            file_stream=io.BytesIO(data), metadata={"kind": kind, **keys, "filename": "upload.bin"}
        )
        uploader.upload()
        by_tus = s.grid["fs.files"].find_one({"filename": filename, "_id": {"$ne": by_put["_id"]}})
        assert by_tus is not None  # replaced, and the old file kept as a revision
        assert s.grid["fs.files"].count_documents({"filename": filename}) == 2
        assert s.db["file_revisions"].find_one({"file_id": str(by_put["_id"])}) is not None
        fields = ("filename", "length", "chunkSize", "sha256", "uploadedName", "training_id")
        assert {k: by_tus.get(k) for k in fields} == {k: by_put.get(k) for k in fields}, kind
        if kind == "weights":
            weights = requests.get(
                s(f"/training-results/weights/{uid}/1/t"),
                headers={"Accept": "application/octet-stream"},
            )
            assert weights.content == data


def test_an_empty_file_is_attached_on_creation(rest_server, uid):
    create_model(rest_server, uid)
    tus_client(rest_server).uploader(
        file_stream=io.BytesIO(b""), metadata=model_metadata(uid)
    ).upload()
    response = requests.get(rest_server(f"/model/{uid}/1"))
    assert response.status_code == 200
    assert response.content == b""


def test_a_wrong_digest_is_refused_and_the_old_file_kept(rest_server, uid):
    create_model(rest_server, uid)
    old = b"the old model file"
    assert put_file(rest_server(f"/model/{uid}/1"), old).status_code == 204
    files_before = rest_server.grid["fs.files"].count_documents({})
    chunks_before = rest_server.grid["fs.chunks"].count_documents({})
    data = os.urandom(3 * CHUNK)
    client = tus_client(rest_server, headers={"Repr-Digest": digest_field(b"other bytes")})
    uploader = client.uploader(
        file_stream=io.BytesIO(data), chunk_size=CHUNK, metadata=model_metadata(uid)
    )
    with pytest.raises(TusUploadFailed) as failed:
        uploader.upload()
    assert failed.value.status_code == 460
    assert requests.get(rest_server(f"/model/{uid}/1")).content == old
    assert rest_server.grid["fs.files"].count_documents({}) == files_before
    assert head(uploader.url).status_code == 404
    assert rest_server.grid["fs.chunks"].count_documents({}) == chunks_before


def test_the_right_digest_and_checksums_are_accepted(rest_server, uid):
    create_model(rest_server, uid)
    data = os.urandom(2 * CHUNK + 3)
    client = tus_client(rest_server, headers={"Repr-Digest": digest_field(data)})
    client.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=100_000,
        metadata=model_metadata(uid),
        upload_checksum=True,  # sha1 Upload-Checksum on every PATCH
    ).upload()
    assert requests.get(rest_server(f"/model/{uid}/1")).content == data


def test_a_wrong_checksum_discards_the_patch(rest_server, uid):
    create_model(rest_server, uid)
    data = os.urandom(CHUNK + 100)
    uploader = tus_client(rest_server).uploader(
        file_stream=io.BytesIO(data), chunk_size=1000, metadata=model_metadata(uid)
    )
    uploader.upload_chunk()  # 1000 bytes in, a partial chunk
    for header, value in (
        ("Upload-Checksum", "sha256 " + base64.b64encode(hashlib.sha256(b"x").digest()).decode()),
        ("Content-Digest", digest_field(b"x")),
    ):
        refused = requests.patch(
            uploader.url,
            data=data[1000:],
            headers={
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": "1000",
                header: value,
            },
        )
        assert refused.status_code == 460, refused.text
        assert head(uploader.url).headers["upload-offset"] == "1000"
    resumed = tus_client(rest_server).uploader(file_stream=io.BytesIO(data), url=uploader.url)
    resumed.upload()
    assert requests.get(rest_server(f"/model/{uid}/1")).content == data


def test_termination_deletes_the_upload_and_its_bytes(rest_server, uid):
    create_model(rest_server, uid)
    uploader = tus_client(rest_server).uploader(
        file_stream=io.BytesIO(os.urandom(3 * CHUNK)),
        chunk_size=2 * CHUNK,
        metadata=model_metadata(uid),
    )
    uploader.upload_chunk()
    assert chunks_of(rest_server, uploader.url) == 2
    override = {**TUS, "X-HTTP-Method-Override": "DELETE"}  # for clients that cannot DELETE
    assert requests.post(uploader.url, headers=override).status_code == 204
    assert head(uploader.url).status_code == 404
    assert chunks_of(rest_server, uploader.url) == 0
    assert requests.delete(uploader.url, headers=TUS).status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Upload-Length": "10"}, 412),  # no Tus-Resumable
        ({**TUS, "Upload-Length": "ten"}, 400),
        ({**TUS, "Upload-Defer-Length": "1"}, 400),
        ({**TUS, "Upload-Length": "10", "Upload-Metadata": "kind bW9kZWw=,model_name"}, 400),
        ({**TUS, "Upload-Length": "10", "Upload-Metadata": "kind !!!"}, 400),
        ({**TUS, "Upload-Length": "10", "Upload-Metadata": "kind Ym9vaw=="}, 400),  # "book"
        ({**TUS, "Upload-Length": "10", "Upload-Metadata": "$where bW9kZWw="}, 400),
        ({**TUS, "Upload-Length": "10", "Upload-Metadata": "a.b bW9kZWw="}, 400),
        ({**TUS, "Upload-Length": "²"}, 400),  # a digit to str.isdigit, not to int()
    ],
)
def test_bad_creations_are_refused(rest_server, headers, status):
    response = requests.post(rest_server("/uploads/"), headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    assert isinstance(response.json()["detail"], str)


def test_an_upload_for_a_missing_target_is_refused_at_creation(rest_server, uid):
    uploader = tus_client(rest_server).uploader(
        file_stream=io.BytesIO(b"abc"), metadata=model_metadata(uid)
    )
    with pytest.raises(TusCommunicationError) as refused:
        uploader.create_url()
    assert refused.value.status_code == 404


def test_an_upload_over_the_limit_is_refused_at_creation(limited_server, uid):
    create_model(limited_server, uid)
    uploader = tus_client(limited_server).uploader(
        file_stream=io.BytesIO(b"x" * (SMALL_UPLOAD_LIMIT + 1)), metadata=model_metadata(uid)
    )
    with pytest.raises(TusCommunicationError) as refused:
        uploader.create_url()
    assert refused.value.status_code == 413


def test_bad_patches_are_refused_and_change_nothing(rest_server, uid):
    create_model(rest_server, uid)
    uploader = tus_client(rest_server).uploader(
        file_stream=io.BytesIO(b"0123456789"), metadata=model_metadata(uid)
    )
    url = uploader.create_url()
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    cases = [
        ({**patch, "Upload-Offset": "3"}, b"abc", 409),
        ({**patch, "Upload-Offset": "0"}, b"0123456789ab", 413),
        ({**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"}, b"abc", 415),
        ({**patch, "Upload-Offset": "-1"}, b"abc", 400),
        ({**patch, "Upload-Offset": "0", "Upload-Checksum": "crc32 AAAA"}, b"abc", 400),
    ]
    for headers, body, status in cases:
        response = requests.patch(url, data=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        assert head(url).headers["upload-offset"] == "0"
    missing = requests.patch(rest_server(f"/uploads/{ObjectId()}"), data=b"a", headers=patch)
    assert missing.status_code == 404


def test_an_expired_upload_is_gone_with_its_bytes(sync_mongo, mongodb_url, tmp_path, uid):
    # five seconds, swept every two and a half: the checks before it expires have time
    env = {"FLREPO_UPLOAD_EXPIRY_HOURS": str(5 / 3600)}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        create_model(server, uid)
        uploader = tus_client(server).uploader(
            file_stream=io.BytesIO(os.urandom(3 * CHUNK)),
            chunk_size=CHUNK + 10,
            metadata=model_metadata(uid),
        )
        uploader.upload_chunk()
        assert chunks_of(server, uploader.url) == 2
        expires = head(uploader.url).headers["upload-expires"]
        assert expires.endswith(" GMT")
        deadline = time.monotonic() + 20
        while server.grid["resumable_uploads"].count_documents({}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (
            server.grid["resumable_uploads"].count_documents({}) == 0
        )  # swept by the server itself
        assert chunks_of(server, uploader.url) == 0
        assert head(uploader.url).status_code == 404
        with pytest.raises(TusUploadFailed):
            uploader.upload_chunk()


def test_creation_with_upload_and_method_override(rest_server, uid):
    create_model(rest_server, uid)
    data = os.urandom(CHUNK + 10)
    metadata = (
        f"kind bW9kZWw=,model_name {base64.b64encode(uid.encode()).decode()},model_version MQ=="
    )
    created = requests.post(
        rest_server("/uploads/"),
        data=data[:1000],
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata,
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == "1000"
    url = rest_server(created.headers["location"])
    overridden = requests.post(
        url,
        data=data[1000:],
        headers={
            **TUS,
            "X-HTTP-Method-Override": "PATCH",
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "1000",
        },
    )
    assert overridden.status_code == 204, overridden.text
    assert requests.get(rest_server(f"/model/{uid}/1")).content == data
