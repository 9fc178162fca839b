"""The `flrepo` command line."""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from pymongo import AsyncMongoClient

from documents.database import IndexConflict, create_indexes
from server.embedded import DatabaseError, embedded_database, require_database
from server.settings import Settings

log = logging.getLogger("flrepo")


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment settings, overridden by whichever flags were given."""
    given = {
        key: value
        for key in ("host", "port", "mongodb_url", "data_dir", "seed_archive")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings().model_copy(update=given)


@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured MongoDB URL, or the embedded database's while the block runs."""
    if settings.mongodb_url:
        yield settings.mongodb_url
        return
    with embedded_database(settings.data_dir) as url:
        log.warning(
            "using the embedded development database in %s; for production set "
            "FLREPO_MONGODB_URL (or --mongodb-url) to a MongoDB server",
            settings.data_dir.resolve(),
        )
        yield url


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """--mongodb-url and --data-dir, shared by every command that opens the database."""
    parser.add_argument("--mongodb-url", help="MongoDB URL (default: embedded database)")
    parser.add_argument("--data-dir", type=Path, help="embedded database folder (./flrepo-data)")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


async def prepare_database(settings: Settings, url: str) -> None:
    """Create the indexes the server relies on, or say which existing data prevents it."""
    client: AsyncMongoClient = AsyncMongoClient(url)
    try:
        await create_indexes(client, settings.db_name, settings.grid_db_name)
    except IndexConflict as exc:
        raise DatabaseError(f"{exc}; remove or rename the duplicates, then start again") from None
    finally:
        await client.close()


def serve(args: argparse.Namespace) -> int:
    """Run the HTTP server until interrupted."""
    import uvicorn

    from server.app import create_app

    # uvicorn shuts down on SIGTERM and then raises it again; with the default handler that
    # kills the process on the spot, before the embedded database below is stopped.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = settings_from(args)
    with database_url(settings) as url:
        # Problems with the database are one clear line here, not a traceback at startup.
        if settings.mongodb_url:
            require_database(url)
        asyncio.run(prepare_database(settings, url))
        if settings.seed_archive is not None:
            from seed.cli import seed_if_empty

            if not seed_if_empty(settings, url):
                return 1
        app = create_app(settings, url)
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flrepo", description="FL Repository server")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the GraphQL and REST server")
    serve_parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (9012)")
    serve_parser.add_argument(
        "--seed",
        dest="seed_archive",
        type=Path,
        metavar="PATH",
        help="restore this archive or dump directory at startup if the repository is empty",
    )
    add_database_options(serve_parser)
    serve_parser.set_defaults(handler=serve)

    from seed.cli import add_commands

    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DatabaseError as exc:
        print(f"flrepo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
