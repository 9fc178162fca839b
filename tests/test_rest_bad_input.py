"""Bad input on every write route: a 4xx in FastAPI's shape, and nothing written.

The module first creates what the routes write to (each with a file, so that a replaced or
deleted file would show); each test takes a snapshot of every stored document and checks that
its refused request left it as it was.
"""

import os
import uuid
from dataclasses import dataclass

import pytest
import requests
from rest_fixtures import (
    SMALL_UPLOAD_LIMIT,
    assert_client_error,
    assert_created,
    assert_detail,
    assert_invalid,
    assert_no_content,
    put_file,
)

pytest_plugins = ["rest_fixtures"]


@dataclass(frozen=True)
class Targets:
    model: str  # name of a model, version "1", with a file
    strategy: str
    transformation: str


def make_targets(server, uid):
    name, key = uid, f"application.tests.{uid}"
    requests_ = [
        ("/model", {"model_name": name, "model_version": "1"}),
        ("/training-results", {"model_name": name, "model_version": "1", "training_id": "run"}),
        ("/strategy", {"strategy_name": name}),
        ("/transformation", {"id": key}),
    ]
    for path, body in requests_:
        assert_created(requests.post(server(path), json=body))
    for path in (
        f"/model/{name}/1",
        f"/training-results/{name}/1/run/cfg",
        f"/strategy/{name}",
        f"/transformation/{key}",
    ):
        assert_no_content(put_file(server(path), b"original file of " + path.encode()))
    return Targets(name, name, key)


@pytest.fixture(scope="module")
def targets(rest_server):
    """Shared by the module's tests: each checks that its own request changed nothing."""
    return make_targets(rest_server, "t" + uuid.uuid4().hex[:10])


# --- JSON bodies -------------------------------------------------------------------------------

JSON_ROUTES = {
    "create model": ("POST", "/model"),
    "model meta": ("PUT", "/model/meta/{model}/1"),
    "create result": ("POST", "/training-results"),
    "create strategy": ("POST", "/strategy"),
    "strategy meta": ("PUT", "/strategy/meta/{strategy}"),
    "create transformation": ("POST", "/transformation"),
    "transformation meta": ("PUT", "/transformation/meta/{transformation}"),
}


def json_route(server, targets, route):
    method, template = JSON_ROUTES[route]
    return method, server(template.format(**vars(targets)))


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize(
    "body",
    [b'{"model_name": "m", ', b"", b"not json", b"\xff\xfe"],
    ids=["truncated", "empty", "text", "not-utf8"],
)
def test_invalid_json_is_422(rest_server, targets, route, body):
    method, url = json_route(rest_server, targets, route)
    before = rest_server.snapshot()
    response = requests.request(
        method, url, data=body, headers={"Content-Type": "application/json"}
    )
    errors = assert_invalid(response)
    assert errors[0]["loc"][0] == "body"
    assert rest_server.snapshot() == before


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.parametrize("body", [[], "text", 1, None], ids=["list", "string", "number", "null"])
def test_a_body_that_is_not_an_object_is_422(rest_server, targets, route, body):
    method, url = json_route(rest_server, targets, route)
    before = rest_server.snapshot()
    assert_invalid(requests.request(method, url, json=body))
    assert rest_server.snapshot() == before


def model(uid, **changes):
    return {"model_name": uid, "model_version": "2", **changes}


def result(uid, **changes):
    return {"model_name": uid, "model_version": "1", "training_id": "run-2", **changes}


def strategy(uid, **changes):
    return {"strategy_name": uid + "-2", **changes}


def transformation(uid, **changes):
    return {"id": f"application.tests.{uid}-2", **changes}


# (route, body maker, changes to a valid body, the field the error must point at)
BAD_BODIES = [
    ("create model", model, {"model_name": {"$gt": ""}}, "model_name"),
    ("create model", model, {"model_version": {"$ne": None}}, "model_version"),
    ("create model", model, {"model_version": [2]}, "model_version"),
    ("create model", model, {"model_name": None}, "model_name"),
    ("create model", model, {"model_name": ""}, "model_name"),
    ("create model", model, {"model_name": "a\x01b"}, "model_name"),
    ("create model", model, {"model_name": "tab\there"}, "model_name"),
    ("create model", model, {"model_name": "a/b"}, "model_name"),
    ("create model", model, {"model_name": "$where"}, "model_name"),
    ("create model", model, {"model_name": "x" * 300}, "model_name"),
    ("create model", model, {"meta": "keras"}, "meta"),
    ("create model", model, {"meta": {"library": {"$gt": ""}}}, "meta"),
    ("create result", result, {"training_id": {"$gt": ""}}, "training_id"),
    ("create result", result, {"training_id": "run\x00"}, "training_id"),
    ("create result", result, {"configuration_id": ["cfg"]}, "configuration_id"),
    ("create result", result, {"configuration_id": "a/b"}, "configuration_id"),
    ("create result", result, {"results": ["accuracy", 0.5]}, "results"),
    ("create result", result, {"results": {"$set": {"accuracy": 1}}}, "results"),
    ("create result", result, {"results": {"a": [{"$where": "1"}]}}, "results"),
    ("create strategy", strategy, {"strategy_name": {"$regex": ".*"}}, "strategy_name"),
    ("create strategy", strategy, {"strategy_name": "s\x7f"}, "strategy_name"),
    ("create strategy", strategy, {"strategy_description": [5]}, "strategy_description"),
    ("create strategy", strategy, {"meta": "rounds=3"}, "meta"),
    ("create strategy", strategy, {"meta": {"$inc": {"rounds": 1}}}, "meta"),
    ("create strategy", strategy, {"meta": {"a\x00b": 1}}, "meta"),
    ("create transformation", transformation, {"id": {"$gt": ""}}, "id"),
    ("create transformation", transformation, {"id": "a/b"}, "id"),
    ("create transformation", transformation, {"outputs": "encoded"}, "outputs"),
    ("create transformation", transformation, {"parameter_types": {"a": [1]}}, "parameter_types"),
    ("create transformation", transformation, {"parameter_types": {"$gt": "x"}}, None),
    ("create transformation", transformation, {"default_values": {"$where": 1}}, "default_values"),
    ("create transformation", transformation, {"needs": {"GPU": "maybe"}}, "needs"),
    ("create transformation", transformation, {"needs": {"RAM": "lots"}}, "needs"),
    (
        "create transformation",
        transformation,
        {"needs": {"preinstalled_libraries": {"$x": 1}}},
        "needs",
    ),
]


@pytest.mark.parametrize(
    ("route", "make", "changes", "field"),
    BAD_BODIES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_BODIES)],
)
def test_bad_create_bodies_are_422(rest_server, targets, uid, route, make, changes, field):
    method, url = json_route(rest_server, targets, route)
    before = rest_server.snapshot()
    errors = assert_invalid(requests.request(method, url, json=make(uid, **changes)))
    if field is not None:
        assert ["body", field] == errors[0]["loc"][:2], errors
    assert rest_server.snapshot() == before


BAD_META = [
    ("model meta", {"library": {"$gt": ""}}),
    ("model meta", {"library": [5]}),
    ("model meta", {"description": ["d"]}),
    ("strategy meta", {}),
    ("strategy meta", {"meta": None}),
    ("strategy meta", {"meta": "rounds=3"}),
    ("strategy meta", {"meta": {"$set": {"strategy_id": None}}}),
    ("strategy meta", {"meta": {"nested": {"$unset": ""}}}),
    ("transformation meta", {"description": "no id"}),
    ("transformation meta", {"id": {"$gt": ""}}),
    ("transformation meta", {"id": "x", "outputs": [[1], 2]}),
    ("transformation meta", {"id": "x", "parameter_types": {"$gt": "x"}}),
    ("transformation meta", {"id": "x", "needs": {"storage": {"$gt": 0}}}),
]


@pytest.mark.parametrize(
    ("route", "body"), BAD_META, ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_META)]
)
def test_bad_meta_updates_are_422(rest_server, targets, route, body):
    method, url = json_route(rest_server, targets, route)
    before = rest_server.snapshot()
    assert_invalid(requests.request(method, url, json=body))
    assert rest_server.snapshot() == before


# --- uploads -----------------------------------------------------------------------------------

UPLOAD_ROUTES = {
    "model": "/model/{model}/1",
    "weights": "/training-results/{model}/1/run/cfg",
    "strategy": "/strategy/{strategy}",
    "transformation": "/transformation/{transformation}",
}


def upload_url(server, targets, route):
    return server(UPLOAD_ROUTES[route].format(**vars(targets)))


def multipart(*parts, close=True):
    """A multipart/form-data body of (field, filename or None, bytes) parts."""
    body = b""
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--bnd\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    if close:
        body += b"--bnd--\r\n"
    return body


MULTIPART = {"Content-Type": "multipart/form-data; boundary=bnd"}


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
def test_upload_without_the_file_field_is_422(rest_server, targets, route):
    before = rest_server.snapshot()
    response = requests.put(
        upload_url(rest_server, targets, route), files={"upload": ("x.bin", b"bytes")}
    )
    errors = assert_invalid(response)
    assert errors[0]["loc"] == ["body", "file"]
    assert rest_server.snapshot() == before


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/octet-stream"}, b"raw bytes"),
        ({"Content-Type": "application/json"}, b'{"file": "bytes"}'),
        ({"Content-Type": "multipart/form-data"}, multipart(("file", "x", b"no boundary"))),
        (MULTIPART, b""),
        (MULTIPART, b"garbage"),
        (MULTIPART, multipart(("file", "x.bin", b"cut short" * 1000), close=False)),
        (MULTIPART, multipart(("note", None, b"a field"), close=True)),
    ],
    ids=["raw", "json", "no-boundary", "empty", "garbage", "unterminated", "no-file-part"],
)
def test_upload_of_a_malformed_body_is_422(rest_server, targets, route, headers, body):
    before = rest_server.snapshot()
    response = requests.put(upload_url(rest_server, targets, route), data=body, headers=headers)
    assert_invalid(response)
    assert rest_server.snapshot() == before


# --- names in the path -------------------------------------------------------------------------

# Every route with names in its path; `{bad}` is where the bad name goes.
PATH_ROUTES = [
    ("PUT", "/model/{bad}/1", "file"),
    ("PUT", "/model/1/{bad}", "file"),
    ("PUT", "/model/meta/{bad}/1", "model meta"),
    ("DELETE", "/model/{bad}/1", None),
    ("DELETE", "/model/{model}/{bad}", None),
    ("PUT", "/training-results/{model}/1/{bad}/cfg", "file"),
    ("PUT", "/training-results/{model}/1/run/{bad}", "file"),
    ("DELETE", "/training-results/{model}/1/{bad}", None),
    ("PUT", "/strategy/{bad}", "file"),
    ("PUT", "/strategy/meta/{bad}", "strategy meta"),
    ("DELETE", "/strategy/{bad}", None),
    ("PUT", "/transformation/{bad}", "file"),
    ("PUT", "/transformation/meta/{bad}", "transformation meta"),
    ("DELETE", "/transformation/{bad}", None),
]
BAD_NAMES = {
    "control": "{name}%01",
    "nul": "a%00{name}",
    "newline": "{name}%0A",
    "slash": "{name}%2Fx",
    "dollar": "%24{name}",
    "long": "{name}" + "x" * 300,
}


def send(method, url, kind, name):
    if kind == "file":
        return requests.request(method, url, files={"file": ("x.bin", b"replacement")})
    bodies = {
        "model meta": {"library": "torch", "description": "replaced"},
        "strategy meta": {"meta": {"replaced": "yes"}},
        "transformation meta": {"id": name, "description": "replaced"},
    }
    return requests.request(method, url, json=bodies.get(kind))


@pytest.mark.parametrize(("method", "template", "kind"), PATH_ROUTES)
@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_in_the_path_are_4xx(rest_server, targets, method, template, kind, bad):
    name = BAD_NAMES[bad].format(name=targets.model)
    url = rest_server(template.format(bad=name, **vars(targets)))
    before = rest_server.snapshot()
    response = send(method, url, kind, targets.model)
    if bad == "slash":  # decoded before routing: the path has a segment too many
        assert response.status_code in (404, 405)
        assert_client_error(response)
    else:
        errors = assert_invalid(response)
        assert errors[0]["loc"][0] == "path"
    assert rest_server.snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/model/{model}%2F1/1", 404),  # decoded to /model/NAME/1/1: no such route
        ("DELETE", "/strategy/meta%2F{strategy}", 405),  # only PUT has /strategy/meta/{name}
        ("PATCH", "/model", 405),
        ("GET", "/modelz", 404),
    ],
)
def test_unrouted_requests_answer_in_fastapi_shape(rest_server, targets, method, path, status):
    before = rest_server.snapshot()
    response = requests.request(method, rest_server(path.format(**vars(targets))))
    assert_detail(response, status)
    assert rest_server.snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("DELETE", "/model/{model}%2F1", None),  # decoded: DELETE /model/NAME/1
        ("DELETE", "/training-results/{model}/1%2Frun", None),  # .../NAME/1/run
        ("PUT", "/model/meta%2F{model}/1", "file"),  # PUT /model/meta/NAME/1
        ("PUT", "/strategy/meta%2F{strategy}", "strategy meta"),  # PUT /strategy/meta/NAME
        ("PUT", "/transformation/meta%2F{transformation}", "transformation meta"),
        ("GET", "/model/{model}%2f1", None),
    ],
)
def test_an_encoded_slash_never_reaches_another_route(rest_server, targets, method, path, kind):
    """No name holds a '/', so a %2F is refused rather than read as a path separator."""
    url = rest_server(path.format(**vars(targets)))
    before = rest_server.snapshot()
    response = send(method, url, kind, targets.transformation)
    assert_detail(response, 404)
    assert rest_server.snapshot() == before


def test_bad_names_in_the_query_are_422(rest_server, targets):
    for params in (
        {"model_name": targets.model + "\x01", "model_version": "1"},
        {"model_name": "$" + targets.model, "model_version": "1"},
    ):
        errors = assert_invalid(requests.get(rest_server("/model/meta"), params=params))
        assert errors[0]["loc"] == ["query", "model_name"]


# --- the upload limit --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited_targets(limited_server):
    return make_targets(limited_server, "t" + uuid.uuid4().hex[:10])


def chunked(data, size=64 * 1024):
    """The body as a generator, so that requests sends it without a Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
@pytest.mark.parametrize("size", [SMALL_UPLOAD_LIMIT + 1, 5 * SMALL_UPLOAD_LIMIT])
def test_an_upload_over_the_limit_is_413_and_leaves_nothing(
    limited_server, limited_targets, route, size
):
    before = limited_server.snapshot()
    response = put_file(upload_url(limited_server, limited_targets, route), os.urandom(size))
    assert "limit" in assert_detail(response, 413)
    assert limited_server.snapshot() == before


@pytest.mark.parametrize("route", UPLOAD_ROUTES)
def test_a_streamed_upload_over_the_limit_is_413_and_leaves_nothing(
    limited_server, limited_targets, route
):
    before = limited_server.snapshot()
    body = multipart(("file", "big.bin", os.urandom(3 * SMALL_UPLOAD_LIMIT)))
    response = requests.put(
        upload_url(limited_server, limited_targets, route), data=chunked(body), headers=MULTIPART
    )
    assert_detail(response, 413)
    assert limited_server.snapshot() == before


def test_a_declared_length_far_over_the_limit_is_413(limited_server, limited_targets):
    """Refused from the Content-Length header, before the body is read."""
    before = limited_server.snapshot()
    data = os.urandom(SMALL_UPLOAD_LIMIT + 2 * 1024 * 1024)
    response = put_file(upload_url(limited_server, limited_targets, "model"), data)
    assert_detail(response, 413)
    assert limited_server.snapshot() == before


def test_an_upload_of_exactly_the_limit_is_stored(limited_server, limited_targets):
    data = os.urandom(SMALL_UPLOAD_LIMIT)
    url = upload_url(limited_server, limited_targets, "model")
    assert_no_content(put_file(url, data))
    assert requests.get(url).content == data
