"""The `flrepo` command line."""

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from flrepo.cli import check, keys, scan, seed, token
from flrepo.cli.options import add_database_options, environment_help
from flrepo.middleware.observe import configure_logging
from flrepo.startup import SettingError, StartupError

Handler = Callable[[argparse.Namespace], int]


def later(module: str, name: str) -> Handler:
    """A command whose module is imported only when it runs: the web application takes
    about a second to import, which every other command would otherwise wait for."""

    def run(args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flrepo", description="FL Repository server")
    parser.add_argument("--version", action="version", version=f"flrepo {version('flrepo')}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve",
        help="run the GraphQL and REST server",
        description="Run the GraphQL and REST server.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve_parser.add_argument("--host", help="address to listen on (127.0.0.1)")
    # Checked with the settings, so that a bad value is named like one from the environment.
    serve_parser.add_argument("--port", help="port to listen on (9012)")
    serve_parser.add_argument(
        "--seed",
        dest="seed_archive",
        type=Path,
        metavar="PATH",
        help="restore this archive or dump directory at startup if the repository is empty",
    )
    add_database_options(serve_parser)
    serve_parser.set_defaults(handler=later("flrepo.cli.serve", "serve"))

    schema_parser = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema_parser.set_defaults(handler=later("flrepo.cli.serve", "print_schema"))

    seed.add_commands(commands)
    check.add_command(commands)
    scan.add_command(commands)
    token.add_commands(commands)
    keys.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        configure_logging(os.environ.get("FLREPO_LOG_FORMAT", "text"))
    except ValueError as exc:
        print(f"flrepo: {exc}", file=sys.stderr)
        return SettingError.exit_code
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except StartupError as exc:
        print(f"flrepo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
