"""`/models/available` and both `/models/download/shell` forms: the `fs.files` documents."""

import hashlib
from datetime import datetime

import requests
from rest_fixtures import assert_created, put_file

pytest_plugins = ["rest_fixtures"]


def stored_files(server, prefix):
    """The `fs.files` documents of the test, oldest first."""
    query = {"filename": {"$regex": f"^{prefix}"}}
    return list(server.grid["fs.files"].find(query).sort([("uploadDate", 1), ("_id", 1)]))


def as_listed(doc):
    """An `fs.files` document as the REST lists render it: no `_id`, ISO upload date."""
    listed = {k: v for k, v in doc.items() if k != "_id"}
    listed["uploadDate"] = doc["uploadDate"].isoformat()
    if "safety" in doc:
        listed["safety"] = {**doc["safety"], "scannedAt": doc["safety"]["scannedAt"].isoformat()}
    return listed


def parse_date(value):
    return datetime.fromisoformat(value)


def with_model_file(server, name, version="1", data=b"model"):
    body = {"model_name": name, "model_version": version}
    assert_created(requests.post(server("/model"), json=body))
    put_file(server(f"/model/{name}/{version}"), data).raise_for_status()


def with_weights(server, name, training_id, configuration_id, data):
    body = {"model_name": name, "model_version": "1", "training_id": training_id}
    assert_created(requests.post(server("/training-results"), json=body))
    url = server(f"/training-results/{name}/1/{training_id}/{configuration_id}")
    put_file(url, data).raise_for_status()


def test_available_lists_every_file_oldest_first_without_id(rest_server, uid):
    with_model_file(rest_server, uid, "1", b"first")
    with_weights(rest_server, uid, "run-1", "cfg", b"weights")
    with_model_file(rest_server, uid, "2", b"third")

    for path in ("/models/available", "/models/available/"):
        response = requests.get(rest_server(path))
        assert response.status_code == 200
        listing = response.json()
        assert all("_id" not in doc for doc in listing)
        dates = [parse_date(doc["uploadDate"]) for doc in listing]
        assert dates == sorted(dates)
        ours = [doc for doc in listing if uid in doc["filename"]]
        assert [doc["filename"] for doc in ours] == [
            f"model/{uid}/1",
            f"weights/{uid}/1/cfg",
            f"model/{uid}/2",
        ]
        expected = [as_listed(doc) for doc in stored_files(rest_server, f"(model|weights)/{uid}/")]
        assert ours == expected
        assert ours[0]["length"] == 5
        assert ours[0]["sha256"] == hashlib.sha256(b"first").hexdigest()
        assert ours[1]["training_id"] == "run-1"


def test_shell_by_filename_reads_underscores_as_slashes(rest_server, uid):
    with_model_file(rest_server, uid, "1", b"zip")
    response = requests.get(rest_server(f"/models/download/shell/model_{uid}_1"))
    assert response.status_code == 200
    [doc] = stored_files(rest_server, f"model/{uid}/1")
    assert response.json() == [as_listed(doc)]


def test_shell_by_filename_answers_the_newest_of_that_name(rest_server, uid):
    with_weights(rest_server, uid, "run-1", "cfg", b"older")
    with_weights(rest_server, uid, "run-2", "cfg", b"newer")
    assert len(stored_files(rest_server, f"weights/{uid}/1/cfg")) == 2

    response = requests.get(rest_server(f"/models/download/shell/weights_{uid}_1_cfg"))
    assert response.status_code == 200
    [doc] = response.json()
    assert "_id" not in doc
    assert doc["training_id"] == "run-2"
    assert doc["length"] == len(b"newer")


def test_shell_by_filename_of_nothing_is_an_empty_list(rest_server, uid):
    response = requests.get(rest_server(f"/models/download/shell/model_{uid}_1"))
    assert response.status_code == 200
    assert response.json() == []


def test_shell_weights_by_configuration(rest_server, uid):
    with_weights(rest_server, uid, "run-1", "cfg-a", b"a" * 10)
    with_weights(rest_server, uid, "run-2", "cfg-b", b"b" * 20)
    with_weights(rest_server, uid, "run-3", "cfg-a", b"c" * 30)

    response = requests.get(rest_server(f"/models/download/shell/{uid}/1/cfg-a"))
    assert response.status_code == 200
    newest = stored_files(rest_server, f"weights/{uid}/1/cfg-a")[-1]
    assert response.json() == [as_listed(newest)]
    assert response.json()[0]["training_id"] == "run-3"
    assert response.json()[0]["filename"] == f"weights/{uid}/1/cfg-a"

    other = requests.get(rest_server(f"/models/download/shell/{uid}/1/cfg-b")).json()
    assert [(doc["training_id"], doc["length"]) for doc in other] == [("run-2", 20)]


def test_shell_weights_of_nothing_is_an_empty_list(rest_server, uid):
    response = requests.get(rest_server(f"/models/download/shell/{uid}/1/cfg"))
    assert response.status_code == 200
    assert response.json() == []
