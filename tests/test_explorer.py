"""The GraphiQL and Swagger UI pages: hashed local assets, committed with the package."""

import html
import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from flrepo.graph.schema import schema
from graphql import build_schema, parse, validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from flrepo import explorer
from flrepo.explorer import Explorer

ROOT = Path(__file__).resolve().parent.parent

FILES = {
    "graphiql.js": "graphiql-ABCDEFGH.js",
    "graphiql.css": "graphiql-IJKLMNOP.css",
    "editor.worker.js": "editor.worker-QRSTUVWX.js",
    "swagger-ui-bundle.js": "swagger-ui-bundle-YZ234567.js",
    "swagger-ui.css": "swagger-ui-AAAAAAAA.css",
    "favicon.png": "favicon-BBBBBBBB.png",
}


def build(static_dir: Path, files: dict[str, str] = FILES) -> Path:
    """A stand-in for `npm run build`: the manifest and a small file for each entry."""
    static_dir.mkdir(parents=True, exist_ok=True)
    for name in files.values():
        (static_dir / name).write_text(f"/* {name} */\n")
    (static_dir / "manifest.json").write_text(json.dumps({"versions": {}, "files": files}))
    return static_dir


def client(pages: Explorer, root_path: str = "") -> httpx.AsyncClient:
    """An in-process client of an app that serves the pages (and GraphiQL at /graphql)."""

    async def graphql(request):
        return await pages.graphiql_page(request)

    app = Starlette(routes=[*pages.routes(), Route("/graphql", graphql)])
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def sources(page: str) -> list[str]:
    """Every URL the page makes the browser fetch by itself (scripts, styles, icons)."""
    urls = re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', page)
    return [url for url in urls if not url.startswith("data:")]


async def test_without_the_assets_the_pages_say_how_to_restore_them(tmp_path):
    pages = Explorer(tmp_path / "static")
    assert not pages.built
    http = client(pages)

    for path in ("/graphql", "/docs"):
        page = (await http.get(path)).text
        assert sources(page) == [], path  # nothing fetched from anywhere, no CDN
        assert "https://" not in page, path
        assert "npm ci &amp;&amp; npm run build" in page, path
        assert "not built" in page, path

    assert not any(isinstance(route, Mount) for route in pages.routes())
    assert (await http.get("/static/manifest.json")).status_code == 404


async def test_with_a_build_the_pages_load_hashed_local_files(tmp_path):
    pages = Explorer(build(tmp_path / "static"))
    assert pages.built
    http = client(pages)

    graphiql = (await http.get("/graphql")).text
    assert sources(graphiql) == ["/static/graphiql-IJKLMNOP.css", "/static/graphiql-ABCDEFGH.js"]
    assert '<script type="module" src="/static/graphiql-ABCDEFGH.js">' in graphiql
    assert 'data-endpoint="/graphql"' in graphiql
    assert "https://" not in graphiql

    swagger = (await http.get("/docs")).text
    assert sources(swagger) == [
        "/static/swagger-ui-AAAAAAAA.css",
        "/static/favicon-BBBBBBBB.png",
        "/static/swagger-ui-bundle-YZ234567.js",
    ]
    assert "url: '/openapi.json'" in swagger
    assert "https://" not in swagger


async def test_hashed_files_are_cached_for_a_year_and_the_manifest_is_revalidated(tmp_path):
    http = client(Explorer(build(tmp_path / "static")))

    asset = await http.get("/static/graphiql-ABCDEFGH.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("text/javascript")

    again = await http.get(
        "/static/graphiql-ABCDEFGH.js", headers={"if-none-match": asset.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"

    manifest = await http.get("/static/manifest.json")
    assert manifest.status_code == 200
    assert manifest.headers["cache-control"] == "no-cache"


async def test_pages_follow_the_applications_root_path(tmp_path):
    http = client(Explorer(build(tmp_path / "static")), root_path="/repo")
    graphiql = (await http.get("/graphql")).text
    assert 'data-endpoint="/repo/graphql"' in graphiql
    assert "/repo/static/graphiql-ABCDEFGH.js" in graphiql
    swagger = (await http.get("/docs")).text
    assert "url: '/repo/openapi.json'" in swagger
    assert "/repo/static/swagger-ui-bundle-YZ234567.js" in swagger


async def test_an_incomplete_build_is_reported(tmp_path, caplog):
    static_dir = build(tmp_path / "static")
    (static_dir / FILES["graphiql.js"]).unlink()
    pages = Explorer(static_dir)
    assert not pages.built
    assert FILES["graphiql.js"] in (await client(pages).get("/graphql")).text

    with caplog.at_level(logging.DEBUG, logger="flrepo.explorer"):
        pages.log_asset_status()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert FILES["graphiql.js"] in record.getMessage()


@pytest.mark.parametrize(
    "manifest",
    ["not json", "[]", '{"files": []}', '{"files": {"graphiql.js": "../secret.js"}}'],
)
def test_a_broken_manifest_is_not_served(tmp_path, manifest):
    static_dir = tmp_path / "static"
    static_dir.mkdir()
    (static_dir / "manifest.json").write_text(manifest)
    assert not Explorer(static_dir).built


def test_startup_log_says_how_to_restore_the_assets_only_when_they_are_missing(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="flrepo.explorer"):
        Explorer(tmp_path / "missing").log_asset_status()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "cd explorer && npm ci && npm run build" in record.getMessage()
    assert "not built" in record.getMessage()
    assert "\n" not in record.getMessage()

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="flrepo.explorer"):
        Explorer(build(tmp_path / "static")).log_asset_status()
    assert all(record.levelno == logging.DEBUG for record in caplog.records)
    assert len(caplog.records) <= 1


def test_the_committed_assets_are_complete_and_hashed():
    """flrepo/static is in the repository; `.ci/explorer.sh` checks it against a fresh build."""
    pages = Explorer(explorer.STATIC_DIR)
    assert pages.built, pages.problem
    assert pages.files is not None
    for logical, name in pages.files.items():
        assert explorer.HASHED_NAME.search(name), (logical, name)
    graphiql = (explorer.STATIC_DIR / pages.files["graphiql.js"]).read_text(encoding="utf-8")
    for worker in ("editor.worker.js", "json.worker.js", "graphql.worker.js"):
        assert pages.files[worker] in graphiql, worker  # the bundle finds its workers by name
    lock = json.loads((ROOT / "explorer" / "package-lock.json").read_text())
    manifest = json.loads((explorer.STATIC_DIR / "manifest.json").read_text())
    for name, version in manifest["versions"].items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name


def test_module_level_interface_uses_the_packaged_static_folder():
    assert explorer.STATIC_DIR == ROOT / "flrepo" / "static"
    paths = [getattr(route, "path", None) for route in explorer.routes()]
    assert "/docs" in paths
    assert "/static" in paths


async def test_graphiql_opens_with_operations_valid_against_the_schema(tmp_path):
    document = parse(explorer.DEFAULT_QUERY)
    assert validate(build_schema(schema.as_str()), document) == []
    kinds = [d.operation.value for d in document.definitions]
    assert kinds == ["query", "query", "query", "subscription", "subscription"]
    names = [d.name.value for d in document.definitions]
    assert {"TrainingCurve", "LiveRounds"} <= set(names)
    answer = await client(Explorer(tmp_path)).get("/graphql", headers={"Accept": "text/html"})
    page = answer.text
    (shown,) = re.findall(r'data-default-query="([^"]*)"', page)
    assert html.unescape(shown) == explorer.DEFAULT_QUERY
