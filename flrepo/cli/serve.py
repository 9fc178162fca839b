"""`flrepo serve` and `flrepo schema`: the commands that need the web application."""

import argparse
import asyncio
import logging
import signal
import sys

import uvicorn

from flrepo.app import create_app
from flrepo.cli import seed as seed_commands
from flrepo.cli.options import database_url, settings_from
from flrepo.documents.database import IndexConflict, connect, create_indexes
from flrepo.embedded import require_database
from flrepo.graph.schema import schema
from flrepo.middleware.connections import capped_protocol
from flrepo.settings import Settings
from flrepo.startup import DataConflict, listen

log = logging.getLogger("flrepo")
MAX_HEADER_BYTES = 64 * 1024  # a request line and headers larger than this are refused
# libuv's event loop and the httptools parser: 1.15x the requests a second of asyncio and h11
# (README: Speed). uvloop does not run on Windows, where asyncio's loop serves.
LOOP = "asyncio" if sys.platform == "win32" else "uvloop"
HTTP = "httptools"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def prepare_database(settings: Settings, url: str) -> None:
    """Create the indexes the server relies on, or say which existing data prevents it."""
    client = connect(url)
    try:
        await create_indexes(client, settings.db_name, settings.grid_db_name)
    except IndexConflict as exc:
        raise DataConflict(f"{exc}; remove or rename the duplicates, then start again") from None
    finally:
        await client.close()


def serve(args: argparse.Namespace) -> int:
    """Run the HTTP server until interrupted."""
    # uvicorn shuts down on SIGTERM and then raises it again; with the default handler that
    # kills the process on the spot, before the embedded database below is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = settings_from(args)
    # Bound before the database starts: a port in use leaves nothing started or created.
    with listen(settings.host, settings.port) as listener, database_url(settings) as url:
        # Problems with the database are one clear line here, not a traceback at startup.
        if settings.mongodb_url:
            require_database(url)
        asyncio.run(prepare_database(settings, url))
        if settings.seed_archive is not None and not seed_commands.seed_if_empty(settings, url):
            return 1
        try:
            app = create_app(settings, url)
        except ValueError as exc:  # a setting that cannot be used, e.g. an unknown scope
            print(f"flrepo: {exc}", file=sys.stderr)
            return 2
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            # Connections capped and timed out by the protocol (see middleware.connections);
            # uvicorn's limit_concurrency would count them but still hold idle ones open.
            http=capped_protocol(
                settings.connection_cap, settings.header_timeout_s, HTTP, MAX_HEADER_BYTES
            ),
            loop=LOOP,
            timeout_keep_alive=max(1, round(settings.keep_alive_s)),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            ws_max_size=settings.graphql_max_bytes,  # a WebSocket message: as a GraphQL body
            proxy_headers=False,  # the app trusts FLREPO_TRUSTED_PROXIES alone
        )
        server = uvicorn.Server(config)
        # uvicorn says where it listens only for sockets it bound itself.
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        log.info(
            "at most %d connections at once; WebSockets: %d, %d per caller",
            settings.connection_cap,
            settings.max_websockets,
            settings.websocket_share,
        )
        log.info(
            "listening on http://%s:%d (GraphiQL at /graphql, Swagger UI at /docs)",
            host,
            settings.port,
        )
        server.run(sockets=[listener])
        return 0 if server.started else 1


def print_schema(args: argparse.Namespace) -> int:
    """The GraphQL schema in SDL, as docs/schema.graphql holds it."""
    print(schema.as_str())
    return 0
