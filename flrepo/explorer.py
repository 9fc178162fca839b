"""The GraphiQL (`GET /graphql` from a browser) and Swagger UI (`/docs`) pages.

Both pages load their JavaScript and CSS from `flrepo/static/`, so that they work with no network
at all. Those files are built from `explorer/` with `cd explorer && npm ci && npm run build` and
committed, so installing the package needs no Node (`.ci/explorer.sh` checks them against a fresh
build). The build writes `manifest.json`, which maps logical names (`graphiql.js`, ...) to file
names carrying a content hash; those files are served with a one-year immutable cache header.
"""

import html
import json
import logging
import re
from pathlib import Path
from urllib.parse import quote

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

log = logging.getLogger("flrepo.explorer")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MANIFEST = "manifest.json"
BUILD_COMMAND = "cd explorer && npm ci && npm run build"


# Logical names every complete build provides.
REQUIRED_FILES = (
    "graphiql.js",
    "graphiql.css",
    "swagger-ui-bundle.js",
    "swagger-ui.css",
)

# esbuild's `[name]-[hash]` (8 base32 characters); build.mjs names copied files the same way.
HASHED_NAME = re.compile(r"-[A-Z2-7]{8}\.")
IMMUTABLE = "public, max-age=31536000, immutable"


class HashedStaticFiles(StaticFiles):
    """Static files where content-hashed names are cached for a year, anything else revalidated."""

    def file_response(
        self,
        full_path: str | Path,
        stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        hashed = HASHED_NAME.search(Path(full_path).name) is not None
        response.headers["Cache-Control"] = IMMUTABLE if hashed else "no-cache"
        return response


def read_manifest(static_dir: Path) -> tuple[dict[str, str] | None, str | None]:
    """The built files by logical name, or None and why the build is missing or unusable."""
    path = static_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "not built"
    except (OSError, ValueError) as error:
        return None, f"{path} is unreadable ({error})"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        return None, f"{path} has no 'files' mapping"
    missing = [name for name in REQUIRED_FILES if not files.get(name)]
    missing += [
        f"{name} ({file})"
        for name, file in files.items()
        if not isinstance(file, str) or "/" in file or not (static_dir / file).is_file()
    ]
    if missing:
        return None, f"incomplete build, missing {', '.join(missing)}"
    return dict(files), None


def _app_root(request: Request) -> str:
    """The path the whole application is served under ('' unless behind a path prefix)."""
    scope = request.scope
    return str(scope.get("app_root_path", scope.get("root_path", ""))).rstrip("/")


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


class Explorer:
    """The two pages and their static files, for the assets built in one folder."""

    def __init__(self, static_dir: Path = STATIC_DIR, static_path: str = "/static") -> None:
        self.static_dir = static_dir
        self.static_path = static_path.rstrip("/")
        self.files, self.problem = read_manifest(static_dir)

    @property
    def built(self) -> bool:
        return self.files is not None

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/docs", self.swagger_page, methods=["GET", "HEAD"])]
        if self.built:
            static = HashedStaticFiles(directory=self.static_dir)
            routes.insert(0, Mount(self.static_path, app=static, name="static"))
        return routes

    def log_asset_status(self) -> None:
        if self.built:
            log.debug("GraphiQL and Swagger UI are served from %s", self.static_dir)
            return
        log.warning(
            "GraphiQL and Swagger UI are unavailable: their assets in %s are %s; restore "
            "flrepo/static from the repository or rebuild it with `%s` (then restart the server)",
            self.static_dir,
            self.problem,
            BUILD_COMMAND,
        )

    def _missing_note(self, what: str) -> str:
        return (
            f'<p class="flrepo-missing">{what} is unavailable: this installation lacks its assets '
            f"({html.escape(self.problem or '')}). Restore <code>flrepo/static</code> from the "
            f"repository or rebuild it with <code>{html.escape(BUILD_COMMAND)}</code>, then "
            "restart the server.</p>"
        )

    def _static_path(self, name: str) -> str:
        assert self.files is not None
        return f"{self.static_path}/{self.files[name]}"

    def _static_url(self, request: Request, name: str) -> str:
        return f"{_app_root(request)}{self._static_path(name)}"

    async def graphiql_page(self, request: Request) -> HTMLResponse:
        endpoint = f"{_app_root(request)}/graphql"
        if self.built:
            css = self._static_url(request, "graphiql.css")
            js = self._static_url(request, "graphiql.js")
            head = (
                f'<link rel="stylesheet" href="{_attr(css)}">\n'
                f'<script type="module" src="{_attr(js)}"></script>'
            )
            loading = "Loading…"
        else:
            head, loading = "", self._missing_note("GraphiQL")
        body = (
            f'<div id="graphiql" data-endpoint="{_attr(endpoint)}" '
            f'data-default-query="{_attr(DEFAULT_QUERY)}">'
            f'<div class="loading">{loading}</div></div>'
        )
        head = f'<link rel="icon" href="{GRAPHIQL_ICON}">\n{head}'
        return HTMLResponse(_page("GraphiQL · FL Repository", GRAPHIQL_STYLE, head, body))

    async def swagger_page(self, request: Request) -> HTMLResponse:
        if not self.built:
            body = self._missing_note("Swagger UI")
            return HTMLResponse(_page("REST API · FL Repository", SWAGGER_STYLE, "", body))
        # FastAPI's page writes the URLs into a script unescaped: the root path is quoted.
        root = quote(_app_root(request), safe="/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="REST API · FL Repository",
            swagger_js_url=f"{root}{self._static_path('swagger-ui-bundle.js')}",
            swagger_css_url=f"{root}{self._static_path('swagger-ui.css')}",
            swagger_favicon_url=(
                f"{root}{self._static_path('favicon.png')}"
                if "favicon.png" in (self.files or {})
                else NO_ICON
            ),
            swagger_ui_parameters={"validatorUrl": None},  # no online validator: no network
        )


# What GraphiQL shows the first time (until the browser has a query of its own stored).
DEFAULT_QUERY = """\
# FL Repository. Pick an operation with the run button (or Ctrl-Enter);
# the Explorer on the left lists every field.

# Models with their file and training results, strategies, transformations
query Repository {
  models(limit: 10) {
    modelName
    modelVersion
    meta { library description }
    file { filename length downloadUrl }
    trainingResults { trainingId configurationId results }
  }
  strategies(limit: 10) { strategyName strategyDescription }
  transformations(limit: 10) { id description }
}

# The best training results by a metric, numbers and numeric strings alike
query BestResults {
  trainingResults(orderBy: {metric: "accuracy", direction: DESC}, limit: 5) {
    modelName
    modelVersion
    trainingId
    results
  }
}

# A training curve: every round of a run with its metrics, the best and latest rounds,
# and the exact files it started from (fill in your run's key)
query TrainingCurve {
  trainingRun(modelName: "mnist", modelVersion: "1", trainingId: "run-1") {
    objective { metric direction }
    rounds(limit: 100) { number metrics participantCount recordedAt }
    bestRound { number metrics }
    latestCheckpoint { number weights { downloadUrl } aggregatorState { downloadUrl } }
    startedFrom { model { name sha256 } strategy { name sha256 } }
  }
}

# Training results as they are added, from any server on this database
subscription NewResults {
  trainingResultAdded {
    modelName
    modelVersion
    trainingId
    results
  }
}

# Rounds as an aggregator records them, live: a training curve that draws itself
subscription LiveRounds {
  roundRecorded {
    modelName
    trainingId
    number
    metrics
    participantCount
  }
}
"""

# Inline, so the page asks nothing of the network for its icon (nor 404s on /favicon.ico).
GRAPHIQL_ICON = (
    "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>"
    "<polygon points='50,6 88,28 88,72 50,94 12,72 12,28' fill='none' stroke='%23e10098' "
    "stroke-width='9'/><circle cx='50' cy='50' r='14' fill='%23e10098'/></svg>"
)

GRAPHIQL_STYLE = """
body { margin: 0; }
#graphiql { height: 100dvh; }
.loading { height: 100%; display: flex; align-items: center; justify-content: center;
  font: 1.25rem system-ui, sans-serif; padding: 0 2rem; text-align: center; }
.loading code { background: #eee; padding: 0 .25em; }
"""

SWAGGER_STYLE = """
body { margin: 0; }
.flrepo-missing { font: 1rem system-ui, sans-serif; padding: 2rem; }
"""
NO_ICON = "data:,"  # an icon that asks nothing of the network (nor 404s on /favicon.ico)


def _page(title: str, style: str, head: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{style}</style>
{head}
</head>
<body>
{body}
</body>
</html>
"""


_explorer: Explorer | None = None


def _default() -> Explorer:
    """The assets in flrepo/static, looked at once per process (restart after a build)."""
    global _explorer
    if _explorer is None:
        _explorer = Explorer()
    return _explorer


def routes() -> list[BaseRoute]:
    """`/static` (only when the assets are built) and `/docs`."""
    return _default().routes()


def log_asset_status() -> None:
    """One warning with the build command when the assets are missing; else a debug line."""
    _default().log_asset_status()


async def graphiql_page(request: Request) -> HTMLResponse:
    """GraphiQL with the explorer plugin, sending its queries to this server's `/graphql`."""
    return await _default().graphiql_page(request)


async def swagger_page(request: Request) -> HTMLResponse:
    """Swagger UI on this server's `/openapi.json`."""
    return await _default().swagger_page(request)
