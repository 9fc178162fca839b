"""The ASGI application: GraphQL, file downloads, health checks, around one MongoDB client."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi.exception_handlers import http_exception_handler
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flrepo import explorer
from flrepo.documents.database import connect, init_database
from flrepo.documents.files import FileStore
from flrepo.documents.integrity import Repository, sweep
from flrepo.documents.uploads import UploadStore
from flrepo.graph.resolvers.files import get_file
from flrepo.graph.view import GraphQLView
from flrepo.rest_compat.api import rest_app
from flrepo.settings import Settings
from flrepo.transfer.downloads import file_response
from flrepo.tus.routes import routes as tus_routes

log = logging.getLogger("flrepo")
READY_TIMEOUT_S = 2.0  # well inside a readiness probe's timeout
SWEEP_EVERY_S = 600.0  # expired uploads are looked for this often (or every half expiry)
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
    """`GET /files/{id}`: a stored file's raw bytes, streamed (ranges, HEAD, 304 as any file)."""
    files: FileStore = request.app.state.files
    record = await get_file(files, request.path_params["file_id"])
    if record is None:
        return JSONResponse({"detail": "no such file"}, status_code=404)
    return file_response(request, files, record)


async def sweep_uploads(uploads: UploadStore, every_s: float) -> None:
    """Delete expired resumable uploads and their bytes every `every_s` seconds."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if swept := await uploads.sweep_expired():
                log.info("removed %d expired resumable uploads", swept)
        except PyMongoError as exc:
            log.warning("sweeping expired uploads failed: %s", exc)


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


async def sweep_periodically(repo: Repository, interval_s: float, grace_s: float) -> None:
    """Remove orphaned files and chunks every `interval_s` (what `flrepo check --repair` does)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            for finding in await sweep(repo, grace_s):
                log.info("sweep removed %s", finding)
        except Exception:
            log.exception("the orphan sweep failed; trying again in %.0f s", interval_s)


@contextlib.asynccontextmanager
async def sweeping(
    client: AsyncMongoClient, files: FileStore, settings: Settings
) -> AsyncIterator[None]:
    """The periodic orphan sweep, for as long as the block runs (unless turned off)."""
    if not settings.sweep_interval_s:
        yield
        return
    meta = client.get_database(settings.db_name, write_concern=files.db.write_concern)
    repo = Repository(meta, files.db)
    task = asyncio.create_task(
        sweep_periodically(repo, settings.sweep_interval_s, settings.orphan_grace_s)
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings, mongodb_url: str) -> Starlette:
    """The whole server, connected to `mongodb_url` for as long as its lifespan runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = connect(mongodb_url)
        try:
            app.state.client = client
            app.state.settings = settings
            app.state.files = rest.state.files = files = await init_database(
                client,
                settings.db_name,
                settings.grid_db_name,
                settings.max_upload_bytes,
                write_concern=settings.write_concern,
                max_concurrent_uploads=settings.max_concurrent_uploads,
            )
            app.state.uploads = UploadStore(files.db, files, settings.upload_expiry)
            log.info("serving databases %s and %s", settings.db_name, settings.grid_db_name)
            explorer.log_asset_status()
            every_s = min(SWEEP_EVERY_S, max(1.0, settings.upload_expiry.total_seconds() / 2))
            sweeper = asyncio.create_task(sweep_uploads(app.state.uploads, every_s))
            try:
                async with sweeping(client, files, settings):
                    yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
        finally:
            await client.close()

    graphql = GraphQLView(ide_page=explorer.graphiql_page)
    rest = rest_app()
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/files/{file_id}", download_file, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *explorer.routes(),
        *tus_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    # Any other path goes to the REST routes (a Mount would miss paths holding a newline).
    app.router.default = rest
    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_middleware(AccessLog)
    return app
