"""The ASGI application: GraphQL, downloads, health and metrics, around one MongoDB client."""

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from flrepo import explorer
from flrepo.documents.changes import ChangeFeed
from flrepo.documents.database import connect, init_database
from flrepo.documents.errors import Forbidden, Unauthenticated
from flrepo.documents.files import FileStore
from flrepo.documents.integrity import Repository, sweep
from flrepo.documents.tasks import cancel_and_wait
from flrepo.documents.uploads import UploadStore
from flrepo.graph.cost import Limits
from flrepo.graph.view import GraphQLView
from flrepo.metrics import Metrics, metrics_page
from flrepo.middleware.access import Access, admin_secret, anonymous_scopes
from flrepo.middleware.body_limit import BodyLimit
from flrepo.middleware.observe import Observer
from flrepo.operations import readiness
from flrepo.operations.files import get_file
from flrepo.operations.retention import Retention, apply_to_every_run
from flrepo.operations.runs import RunPolicy
from flrepo.operations.validation import MAX_DOCUMENT_BYTES
from flrepo.rest_compat.api import rest_app
from flrepo.rest_runs.routes import router as runs_router
from flrepo.settings import Settings
from flrepo.transfer.downloads import file_response
from flrepo.transfer.error_answers import repository_error
from flrepo.transfer.errors import internal_error
from flrepo.tus.routes import routes as tus_routes
from flrepo.tus.signatures import routes as signature_routes

log = logging.getLogger("flrepo")
# A JSON body may hold one document of MongoDB's largest size, with room for its encoding.
MAX_JSON_BODY_BYTES = MAX_DOCUMENT_BYTES + 1024 * 1024
READY_TIMEOUT_S = 2.0  # well inside a readiness probe's timeout
SWEEP_EVERY_S = 600.0  # expired uploads are looked for this often (or every half expiry)


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


def rest_face() -> FastAPI:
    """The REST routes as served: the training runs' first (see `RunRoute`), the original's."""
    return rest_app(first=[runs_router])


async def every(interval_s: float, job: Callable[[], Awaitable[None]], what: str) -> None:
    """Run `job` every `interval_s` seconds; a failure is logged and the next run comes."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except PyMongoError as exc:  # the database is away: one line, not a traceback
            log.warning("%s failed: %s; trying again in %.0f s", what, exc, interval_s)
        except Exception:
            log.exception("%s failed; trying again in %.0f s", what, interval_s)


def sweeper(
    repo: Repository, settings: Settings, also: Callable[[], Awaitable[Any]] | None = None
) -> tuple[float, Callable[[], Awaitable[None]]]:
    """The server's one sweep and how often it runs: expired uploads and revisions past their
    retention every run (every ten minutes, or every half expiry if that is shorter), then
    `also` (the training rounds' retention), orphans every FLREPO_SWEEP_INTERVAL_S (never if
    0), which is a whole number of runs."""
    every_s = min(SWEEP_EVERY_S, max(1.0, settings.upload_expiry.total_seconds() / 2))
    orphans_every = 0  # runs from one orphan sweep to the next; 0: none
    if settings.sweep_interval_s:
        every_s = min(every_s, settings.sweep_interval_s)
        orphans_every = max(1, round(settings.sweep_interval_s / every_s))
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        orphans = orphans_every > 0 and runs % orphans_every == 0
        retention = settings.revision_retention
        for finding in await sweep(repo, settings.orphan_grace_s, orphans, retention=retention):
            log.info("sweep removed %s", finding)
        if also is not None:
            await also()

    return every_s, run


@contextlib.asynccontextmanager
async def running(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """`job` as a background task for as long as the block runs."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        await cancel_and_wait(task)


def log_anonymous_scopes(settings: Settings, anonymous: frozenset[str]) -> None:
    """One line saying what callers without a token may do; a warning where the default keeps
    deployed clients (which send no token) from writing, with how to change it."""
    allowed = ", ".join(sorted(anonymous)) or "nothing"
    if settings.anonymous_scopes is None and not settings.on_loopback:
        log.warning(
            "callers without a token may only: %s (listening on %s); their writes are refused "
            "with 401: set FLREPO_ANONYMOUS_SCOPES=read,write to accept them (deletes with a "
            "token), or give clients tokens",
            allowed,
            settings.host,
        )
    else:
        log.info("callers without a token may: %s", allowed)


def create_app(settings: Settings, mongodb_url: str) -> Starlette:
    """The whole server, connected to `mongodb_url` for as long as its lifespan runs.

    Raises ValueError for settings it cannot use (an unknown scope, a short admin token).
    """
    anonymous = anonymous_scopes(settings)
    admin = admin_secret(settings)
    retention = Retention.parse(settings.round_retention, settings.round_retention_best)
    run_policy = RunPolicy(settings.protected, retention)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = connect(mongodb_url)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(client.close)
            app.state.client = client
            app.state.settings = settings
            app.state.run_policy = rest.state.run_policy = run_policy
            app.state.files = rest.state.files = files = await init_database(
                client,
                settings.db_name,
                settings.grid_db_name,
                settings.max_upload_bytes,
                write_concern=settings.write_concern,
                max_concurrent_uploads=settings.max_concurrent_uploads,
                pickle_policy=settings.pickle_policy,
                signature_policy=settings.signature_policy,
                scanning=settings.scanning,
            )
            files.set_shares(settings.upload_shares)
            stack.callback(files.scans.close)
            meta = client.get_database(settings.db_name, write_concern=files.db.write_concern)
            # documents written behind the server's back are ranked and flagged while it
            # serves; what reads them answers NOT_READY until then (operations/readiness.py)
            await stack.enter_async_context(running(readiness.prepare(meta)))
            app.state.uploads = UploadStore(files, settings.upload_expiry)
            app.state.feed = ChangeFeed(client[settings.db_name])
            await app.state.feed.start()
            stack.push_async_callback(app.state.feed.stop)
            retain = functools.partial(apply_to_every_run, files, run_policy.retention)
            every_s, sweep_once = sweeper(Repository(meta, files.db), settings, retain)
            await stack.enter_async_context(running(every(every_s, sweep_once, "the sweep")))
            log.info("serving databases %s and %s", settings.db_name, settings.grid_db_name)
            log_anonymous_scopes(settings, anonymous)
            explorer.log_asset_status()
            yield

    metrics = Metrics()
    origins = [
        origin.strip() for origin in settings.ws_allowed_origins.split(",") if origin.strip()
    ]
    limits = Limits(
        max_bytes=settings.graphql_max_bytes,
        max_tokens=settings.graphql_max_tokens,
        max_aliases=settings.graphql_max_aliases,
        max_depth=settings.graphql_max_depth,
        max_objects=settings.graphql_max_objects,
    )
    graphql = GraphQLView(
        explorer.graphiql_page,
        settings.max_websockets,
        settings.max_subscriptions,
        origins,
        limits,
        per_caller=settings.websocket_share,
        max_lifetime_s=settings.ws_max_lifetime_s,
    )
    rest = rest_face()
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/files/{file_id}", download_file, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        *explorer.routes(),
        *tus_routes(),
        *signature_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={500: internal_error})
    app.state.metrics = metrics
    # Any other path goes to the REST routes (a Mount would miss paths holding a newline).
    app.router.default = rest
    app.add_exception_handler(HTTPException, http_exception_handler)
    app.add_exception_handler(Unauthenticated, repository_error)
    app.add_exception_handler(Forbidden, repository_error)
    # The last added runs first: metrics and log, CORS, then who the caller is, body limits.
    app.add_middleware(
        BodyLimit, graphql_bytes=settings.graphql_max_bytes, other_bytes=MAX_JSON_BODY_BYTES
    )
    app.add_middleware(Access, anonymous=anonymous, admin=admin, origins=settings.origins)
    if settings.origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=sorted(settings.origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "HEAD", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(Observer, metrics=metrics)
    if settings.proxies:  # the client's address as the trusted proxy forwarded it
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)
    return app
