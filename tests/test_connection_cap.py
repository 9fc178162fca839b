"""Connections stay below the open-file limit: idle ones make room, silent ones time out,
`/healthz` answers while one client holds idle connections up to the cap, and a repeated
warning is logged at most once a second."""

import logging
import socket
import time

import requests
from rest_fixtures import running_server

from flrepo.middleware.log_repeats import RepeatFilter
from flrepo.settings import Settings, open_file_limit

pytest_plugins = ["rest_fixtures"]

CAP = 40


def idle_connections(port: int, count: int, partial: bytes = b"") -> list[socket.socket]:
    """`count` connections to 127.0.0.1:`port` that send `partial` (perhaps nothing) and wait."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if partial:
            sock.sendall(partial)
        held.append(sock)
    return held


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_healthz_answers_while_one_client_holds_the_cap(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_MAX_CONNECTIONS": str(CAP), "FLREPO_HEADER_TIMEOUT_S": "60"}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        kinds = (b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # silent, and slow headers
        held = [s for kind in kinds for s in idle_connections(port, CAP // 2 + 10, kind)]
        try:
            start = time.monotonic()
            for _ in range(20):
                response = requests.get(server.url + "/healthz", timeout=5)
                assert response.status_code == 200, response.text
            assert time.monotonic() - start < 10
            time.sleep(0.5)
            open_now = [s for s in held if not closed_by_server(s)]
            assert len(open_now) < CAP, len(open_now)  # the oldest idle ones made room
        finally:
            for sock in held:
                sock.close()
        log = server.log.read_text()
        assert "Too many open files" not in log and "Traceback" not in log, log[-3000:]


def test_a_silent_connection_is_closed_after_the_header_timeout(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_HEADER_TIMEOUT_S": "1", "FLREPO_KEEP_ALIVE_S": "1"}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        silent, slow = idle_connections(port, 1) + idle_connections(port, 1, b"GET / HTTP/1.1\r\n")
        try:
            for _ in range(5):  # a byte now and then does not keep headers coming forever
                time.sleep(0.4)
                try:
                    slow.sendall(b"X")
                except OSError:  # closed already
                    break
            deadline = time.monotonic() + 5
            while not (closed_by_server(silent) and closed_by_server(slow)):
                assert time.monotonic() < deadline, "an idle connection was kept open"
        finally:
            silent.close()
            slow.close()
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_busy_connections_past_the_cap_are_answered_503(sync_mongo, mongodb_url, tmp_path):
    env = {"FLREPO_MAX_CONNECTIONS": "3"}
    with running_server(sync_mongo, mongodb_url, tmp_path, env) as server:
        port = int(server.url.rsplit(":", 1)[1])
        # Three requests in progress: each declared a body it does not send.
        busy = idle_connections(
            port, 3, b"POST /model HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        )
        try:
            time.sleep(0.3)
            response = requests.get(server.url + "/healthz", timeout=5)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
        finally:
            for sock in busy:
                sock.close()
        time.sleep(0.3)
        assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_the_default_cap_is_below_the_open_file_limit() -> None:
    cap = Settings().connection_cap
    assert 0 < cap < open_file_limit()
    assert Settings(max_connections=7).connection_cap == 7
    assert Settings(max_websockets=1000).websocket_share == 100
    assert Settings(max_websockets=5).websocket_share == 1


def test_a_repeated_warning_is_logged_once_a_second_with_a_count() -> None:
    records = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    repeats = RepeatFilter(every_s=60)
    handler.addFilter(repeats)
    logger = logging.getLogger("test.repeats")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for number in range(1000):
            logger.error("accept failed: %s", f"Too many open files ({number})")
            logger.info("request %s", number)  # not a warning: all of them
        repeats.every_s = 0  # as if a second had passed
        logger.error("accept failed: %s", "Too many open files (last)")
        logger.warning("another warning")
    finally:
        logger.removeHandler(handler)
    errors = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert errors == [
        "accept failed: Too many open files (0)",
        "accept failed: Too many open files (last) (999 more like this in the last 0 s)",
    ]
    assert sum(r.levelno == logging.INFO for r in records) == 1000
    assert records[-1].getMessage() == "another warning"
