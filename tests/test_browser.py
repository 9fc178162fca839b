"""GraphiQL and Swagger UI in a real headless Chromium, with no network but the server itself.

Starts `flrepo serve` on the embedded database, creates a model over HTTP, then drives Debian's
Chromium (never a downloaded browser) with every request to another host blocked: the GraphiQL
editor must run `{ models { modelName } }` and show the model, open with the example operations
and run a subscription that shows a training result posted meanwhile; Swagger UI must list the
REST routes and show the same model from 'Try it out' on `GET /model`. Screenshots of both pages
go to test-artifacts/ for review.

One more test starts from a clean clone, runs the README's quickstart command with no `node` on
PATH and has the same offline Chromium render both pages: the committed assets must be enough.

Needs /usr/bin/chromium and the `playwright` package (the `test` extra); the clean-clone test
also needs git and pip's access to the project's dependencies. Where one is missing the tests
are skipped, or fail when CI=true.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flrepo.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
MANIFEST = ROOT / "flrepo" / "static" / "manifest.json"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
STARTUP_SECONDS = 120


def require(condition: bool, reason: str) -> None:
    """Skip without `condition` on a developer's machine; in CI it is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def flrepo_command() -> list[str]:
    """The `flrepo` script of the running interpreter's environment, else the one on PATH."""
    script = Path(sys.executable).parent / "flrepo"
    if script.exists():
        return [str(script)]
    found = shutil.which("flrepo")
    require(found is not None, "the flrepo command is not installed (pip install -e '.[test]')")
    return [str(found)]


def http(method: str, url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright package is not installed (pip install -e '.[test]')")
    require(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")
    require(MANIFEST.is_file(), f"{MANIFEST} is missing (cd explorer && npm ci && npm run build)")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="module")
def server(playwright_api, tmp_path_factory) -> Iterator[str]:
    """`flrepo serve` on the embedded database in a fresh folder; yields its base URL."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("flrepo-data")
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "browser-flrepo-serve.log"
    base = f"http://127.0.0.1:{port}"
    command = [*flrepo_command(), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    pytest.fail(
                        f"flrepo serve exited with {process.returncode}:\n{log_path.read_text()}"
                    )
                with contextlib.suppress(OSError):
                    if http("GET", f"{base}/readyz")[0] == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"flrepo serve not ready in {STARTUP_SECONDS} s:\n{log_path}")
                time.sleep(0.25)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def model(server) -> str:
    """Model m1, created with a GraphQL mutation over HTTP before the browser looks."""
    status, body = http(
        "POST",
        f"{server}/graphql",
        {
            "query": 'mutation { createModel(input: {modelName: "m1", modelVersion: "1"}) '
            "{ modelName } }"
        },
    )
    result = json.loads(body)
    assert status == 200, body
    assert result.get("errors") is None, result
    assert result["data"]["createModel"]["modelName"] == "m1"
    return "m1"


class Offline:
    """A browser page that can reach only the server: every other request is aborted and kept."""

    def __init__(self, playwright_api, server: str, user_data_dir: Path, name: str) -> None:
        self.name = name
        self.origin = urlsplit(server).netloc
        self.requested: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.console: list[str] = []
        self.context = playwright_api.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            service_workers="block",
        )
        self.context.route("**/*", self._route)
        self.context.on("request", lambda request: self.requested.append(request.url))
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console", lambda message: self.console.append(f"{message.type}: {message.text}")
        )

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and not self._ours(url):
            self.blocked.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def _ours(self, url: str) -> bool:
        return urlsplit(url).netloc == self.origin

    def assert_stayed_on_the_server(self) -> None:
        assert self.blocked == [], f"requests to other hosts: {self.blocked}"
        elsewhere = [
            url
            for url in self.requested
            if urlsplit(url).scheme not in ("data", "blob") and not self._ours(url)
        ]
        assert elsewhere == [], f"requests to other hosts: {elsewhere}"
        assert self.errors == [], f"errors on the page: {self.errors}"

    def close(self) -> None:
        lines = [*self.console, *(f"blocked: {url}" for url in self.blocked)]
        (ARTIFACTS / f"{self.name}-console.log").write_text("".join(f"{x}\n" for x in lines))
        self.context.close()


@pytest.fixture
def browser(playwright_api, server, tmp_path, request) -> Iterator[Offline]:
    """Chromium with a fresh profile, reaching nothing but the server."""
    offline = Offline(playwright_api, server, tmp_path / "chromium-profile", request.node.name)
    try:
        yield offline
    finally:
        offline.close()


def test_graphiql_runs_a_query_offline(server, model, browser):
    from playwright.sync_api import expect

    page = browser.page
    response = page.goto(f"{server}/graphql")
    assert response is not None and response.status == 200
    assert "text/html" in response.headers["content-type"]

    editor = page.locator(".graphiql-query-editor .monaco-editor")
    expect(editor).to_be_visible()
    # Typing goes through Monaco, so its workers (from /static) must be running.
    # GraphiQL may fill in its example operations after the editor shows: type until the
    # editor holds only this query, or the run button would ask which operation to run.
    lines = editor.locator(".view-lines")
    for _ in range(10):
        lines.click()
        page.keyboard.press("ControlOrMeta+A")
        page.keyboard.press("Delete")
        page.keyboard.type("{ models { modelName } }")
        page.wait_for_timeout(500)
        text = lines.inner_text()
        if "models" in text and "subscription" not in text:
            break
    expect(lines).not_to_contain_text("subscription")

    page.locator(".graphiql-execute-button").click()
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"modelName": "m1"', timeout=30_000)  # a busy machine

    # The explorer plugin is there and reads the schema.
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    expect(page.locator(".graphiql-explorer-root")).to_contain_text("models")
    expect(result).to_contain_text(model)

    page.screenshot(path=str(ARTIFACTS / "graphiql.png"))
    workers = [url for url in browser.requested if ".worker-" in url]
    assert len(workers) >= 2, f"Monaco's workers were not loaded from the server: {workers}"
    browser.assert_stayed_on_the_server()


def subscriptions_open(server: str) -> float:
    status, body = http("GET", f"{server}/metrics")
    assert status == 200, body
    (line,) = [x for x in body.decode().splitlines() if x.startswith("flrepo_subscriptions_open ")]
    return float(line.split()[1])


def test_graphiql_opens_with_an_example_and_runs_a_subscription(server, model, browser):
    from playwright.sync_api import expect

    page = browser.page
    page.goto(f"{server}/graphql")
    editor = page.locator(".graphiql-query-editor .monaco-editor")
    expect(editor.locator(".view-lines")).to_contain_text("query Repository")

    editor.locator(".view-lines").click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.press("Delete")
    page.keyboard.type('subscription { trainingResultAdded(modelName: "m1") { trainingId } }')
    expect(editor.locator(".view-lines")).to_contain_text("trainingResultAdded")
    # GraphiQL parses the editor's text a moment after typing: until then it still sees the
    # example's operations and answers the button with a menu. Ask again until it runs.
    deadline = time.monotonic() + 60
    while subscriptions_open(server) < 1:
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "graphiql-subscription.png"))
            pytest.fail("GraphiQL did not open the subscription")
        page.keyboard.press("Escape")
        page.locator(".graphiql-execute-button").click()
        wait_until = time.monotonic() + 3
        while subscriptions_open(server) < 1 and time.monotonic() < wait_until:
            time.sleep(0.1)

    body = {"model_name": "m1", "model_version": "1", "training_id": "live-1", "results": {}}
    status, answer = http("POST", f"{server}/training-results", body)
    assert status == 201, answer
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text('"trainingId": "live-1"', timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "graphiql-subscription.png"))
    browser.assert_stayed_on_the_server()


def test_swagger_ui_tries_get_model_offline(server, model, browser):
    from playwright.sync_api import expect

    page = browser.page
    response = page.goto(f"{server}/docs")
    assert response is not None and response.status == 200

    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(path.replace("\u200b", "") == "/model" for path in paths), paths
    page.screenshot(path=str(ARTIFACTS / "swagger.png"))

    get_model = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/model"]')
    )
    get_model.locator(".opblock-summary").first.click()
    get_model.get_by_role("button", name="Try it out").click()
    get_model.get_by_role("button", name="Execute").click()
    live = get_model.locator(".live-responses-table")
    answer = live.locator("tr.response")
    expect(answer.locator(".response-col_status")).to_contain_text("200")
    expect(answer.locator(".response-col_description")).to_contain_text(model)

    get_model.scroll_into_view_if_needed()
    get_model.screenshot(path=str(ARTIFACTS / "swagger-try-it-out.png"))
    browser.assert_stayed_on_the_server()


def quickstart_command() -> str:
    """The README's install-and-serve command (the first `sh` block under '## Quickstart')."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    found = re.search(r"```sh\n(.+?)\n```", quickstart, re.S)
    assert found, "README.md has no quickstart command"
    command = found.group(1).strip()
    assert command.endswith("flrepo serve"), command
    return command


def test_a_clean_clone_serves_both_explorers_offline_without_node(playwright_api, tmp_path):
    git = shutil.which("git")
    require(git is not None, "git is not installed")
    assert git is not None
    clone = tmp_path / "clone"
    subprocess.run([git, "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)

    # A PATH holding python3 and nothing else, so that no Node can be found.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    assert shutil.which("node", path=str(bin_dir)) is None
    port = free_port()
    keep = {"HOME", "LANG", "TMPDIR", "PIP_INDEX_URL", "PIP_CACHE_DIR", "PIP_FIND_LINKS"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env |= {"PATH": str(bin_dir), "FLREPO_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"

    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "clean-clone-quickstart.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["/bin/bash", "-c", quickstart_command()],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600  # a fresh venv installs every dependency
        while True:
            if process.poll() is not None:
                pytest.fail(f"the quickstart exited with {process.returncode}:\n{log_path}")
            with contextlib.suppress(OSError):
                if http("GET", f"{base}/readyz")[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the quickstart's server was not ready in 600 s:\n{log_path}")
            time.sleep(1)
        assert "unavailable" not in log_path.read_text(), log_path  # the assets were found

        from playwright.sync_api import expect

        offline = Offline(playwright_api, base, tmp_path / "profile", "clean-clone")
        try:
            page = offline.page
            page.goto(f"{base}/graphql")
            expect(page.locator(".graphiql-query-editor .monaco-editor")).to_be_visible()
            expect(page.locator(".graphiql-execute-button")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "clean-clone-graphiql.png"))
            page.goto(f"{base}/docs")
            expect(page.locator(".opblock").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "clean-clone-swagger.png"))
            assert any("/static/graphiql-" in url for url in offline.requested)
            offline.assert_stayed_on_the_server()
        finally:
            offline.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
