"""The ASGI application: GraphQL, file downloads, health checks, around one MongoDB client."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flrepo import explorer
from flrepo.access import Access, admin_secret, anonymous_scopes
from flrepo.documents.database import connect, init_database
from flrepo.documents.files import FileStore
from flrepo.graph.cost import Limits
from flrepo.graph.resolvers.access import Forbidden, Unauthenticated
from flrepo.graph.resolvers.files import get_file
from flrepo.graph.validation import MAX_DOCUMENT_BYTES
from flrepo.graph.view import GraphQLView
from flrepo.limits import BodyLimit, internal_error
from flrepo.rest_compat.http import http_error
from flrepo.rest_compat.routes import routes as rest_routes
from flrepo.settings import Settings
from flrepo.transfer.downloads import file_response

log = logging.getLogger("flrepo")
# A JSON body may hold one document of MongoDB's largest size, with room for its encoding.
MAX_JSON_BODY_BYTES = MAX_DOCUMENT_BYTES + 1024 * 1024
READY_TIMEOUT_S = 2.0  # well inside a readiness probe's timeout
access_log = logging.getLogger("flrepo.access")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    """200 when the database answers ping within READY_TIMEOUT_S, else 503."""
    client: AsyncMongoClient = request.app.state.client
    try:
        await asyncio.wait_for(client.admin.command("ping"), READY_TIMEOUT_S)
    except (PyMongoError, TimeoutError):
        return JSONResponse({"status": "database unavailable"}, 503)
    return JSONResponse({"status": "ready"})


async def download_file(request: Request) -> Response:
    """`GET /files/{id}`: a stored file's raw bytes, streamed (304 when the ETag matches)."""
    files: FileStore = request.app.state.files
    record = await get_file(files, request.path_params["file_id"])
    if record is None:
        return JSONResponse({"detail": "no such file"}, status_code=404)
    if record.sha256 and request.headers.get("if-none-match") == f'"{record.sha256}"':
        return Response(status_code=304, headers={"ETag": f'"{record.sha256}"'})
    return file_response(files, record)


async def access_denied(request: Request, exc: Exception) -> Response:
    """401 (with the Bearer challenge) or 403, in FastAPI's shape, for routes of the app itself."""
    if isinstance(exc, Unauthenticated):
        return JSONResponse({"detail": str(exc)}, 401, headers={"WWW-Authenticate": "Bearer"})
    return JSONResponse({"detail": str(exc)}, 403)


class AccessLog:
    """One structured log line per request: method, path, status, duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            access_log.info(
                "request method=%s path=%s status=%d duration_ms=%.1f",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - start) * 1000,
            )


def create_app(settings: Settings, mongodb_url: str) -> Starlette:
    """The whole server, connected to `mongodb_url` for as long as its lifespan runs.

    Raises ValueError for settings it cannot use (an unknown scope, a short admin token).
    """
    anonymous = anonymous_scopes(settings)
    admin = admin_secret(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = connect(mongodb_url)
        try:
            app.state.client = client
            app.state.settings = settings
            app.state.files = await init_database(
                client, settings.db_name, settings.grid_db_name, settings.max_upload_bytes
            )
            log.info("serving databases %s and %s", settings.db_name, settings.grid_db_name)
            log.info("callers without a token may: %s", ", ".join(sorted(anonymous)) or "nothing")
            explorer.log_asset_status()
            yield
        finally:
            await client.close()

    graphql = GraphQLView(
        Limits(
            max_bytes=settings.graphql_max_bytes,
            max_tokens=settings.graphql_max_tokens,
            max_aliases=settings.graphql_max_aliases,
            max_depth=settings.graphql_max_depth,
            max_objects=settings.graphql_max_objects,
        )
    )
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/files/{file_id}", download_file, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *explorer.routes(),
        *rest_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={500: internal_error})
    app.add_exception_handler(HTTPException, http_error)  # 404 and 405 as FastAPI answers them
    app.add_exception_handler(Unauthenticated, access_denied)
    app.add_exception_handler(Forbidden, access_denied)
    # The last added runs first: log, CORS, then who the caller is, then body limits.
    app.add_middleware(
        BodyLimit, graphql_bytes=settings.graphql_max_bytes, other_bytes=MAX_JSON_BODY_BYTES
    )
    app.add_middleware(Access, anonymous=anonymous, admin=admin, origins=settings.origins)
    if settings.origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(settings.origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(AccessLog)
    return app
