"""`flrepo serve` runs uvloop and httptools, with the h11 protocol's limits kept: the
connection cap and header timeout (tests/test_connection_cap.py, on the server as it runs),
and a bound on a request's head, which httptools alone would buffer whatever its size."""

import contextlib
import socket
import uuid

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from flrepo.cli import serve
from flrepo.middleware.connections import Capped, capped_protocol

pytest_plugins = ["rest_fixtures"]


def test_serve_runs_uvloop_and_httptools():
    assert (serve.LOOP, serve.HTTP) == ("uvloop", "httptools")
    protocol = capped_protocol(7, 3.0, serve.HTTP, serve.MAX_HEADER_BYTES)
    assert issubclass(protocol, HttpToolsProtocol) and issubclass(protocol, Capped)
    assert (protocol.cap, protocol.header_timeout_s, protocol.max_header_bytes) == (7, 3.0, 65536)
    assert issubclass(capped_protocol(7, 3.0, "h11"), H11Protocol)


def answer(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # closed while sending: read what it answered
            sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b"connection: close" in received.lower():
                break
        return received


def port_of(rest_server) -> int:
    return int(rest_server.url.rsplit(":", 1)[1])


def test_a_head_over_the_bound_is_refused(rest_server):
    filler = b"x-filler: " + b"a" * (serve.MAX_HEADER_BYTES + 1) + b"\r\n"
    reply = answer(port_of(rest_server), b"GET /healthz HTTP/1.1\r\nhost: t\r\n" + filler)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]


def test_a_head_within_the_bound_and_a_large_body_are_served(rest_server):
    filler = b"x-filler: " + b"a" * (serve.MAX_HEADER_BYTES // 2) + b"\r\n"
    request = b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n" + filler + b"\r\n"
    assert answer(port_of(rest_server), request).startswith(b"HTTP/1.1 200 ")
    name = uuid.uuid4().hex.encode()
    body = b'{"strategy_name": "%s", "meta": {"pad": "%s"}}' % (name, b"b" * 200_000)
    head = b"POST /strategy HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
    head += b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(body)
    reply = answer(port_of(rest_server), head + body)
    assert reply.startswith(b"HTTP/1.1 201 "), reply[:300]
