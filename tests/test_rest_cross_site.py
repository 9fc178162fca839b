"""A page of another origin, in a real headless Chromium, cannot create records over REST.

The page (served from another port) POSTs a model to the REST server the three ways a page may
without a CORS preflight: a Blob body (no Content-Type), a string (`text/plain`) and a form
(`application/x-www-form-urlencoded`). Each must reach the server, be answered 415 and store
nothing. Needs Debian's /usr/bin/chromium and the `playwright` package: skipped where either is
missing, a failure when CI=true.
"""

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rest_fixtures import Server

pytest_plugins = ["rest_fixtures"]

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")

ATTEMPTS = """async ([url, name]) => {
  const body = JSON.stringify({model_name: name, model_version: "1"});
  const form = new URLSearchParams({model_name: name, model_version: "1"});
  for (const sent of [new Blob([body]), body, form]) {
    await fetch(url, {method: "POST", mode: "no-cors", body: sent});
  }
}"""


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>elsewhere</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def elsewhere() -> Iterator[str]:
    """The URL of a page on another origin (another port of this machine)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def chromium(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "the playwright package" if sync_playwright is None else None
    if missing is None and not CHROMIUM.exists():
        missing = str(CHROMIUM)
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true but {missing} is missing", pytrace=False)
        pytest.skip(f"{missing} is missing")
    with sync_playwright() as api:
        context = api.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        with contextlib.closing(context):
            yield context


def refusals(server: Server) -> int:
    pattern = r"request method=POST path=/model (route=\S+ )?status=415"
    return len(re.findall(pattern, server.log.read_text()))


def test_a_page_of_another_origin_cannot_create_a_model(rest_server, uid, chromium, elsewhere):
    page = chromium.new_page()
    page.goto(elsewhere)
    before = refusals(rest_server)
    page.evaluate(ATTEMPTS, [rest_server("/model"), uid])
    assert rest_server.db.models.count_documents({"model_name": uid}) == 0
    # All three reached the server (the browser blocked none): its refusal is what held.
    assert refusals(rest_server) - before == 3, rest_server.log.read_text()[-2000:]
