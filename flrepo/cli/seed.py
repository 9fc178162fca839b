"""`flrepo seed restore` and `flrepo seed dump`."""

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path

from flrepo.cli.options import add_database_options, database_url, settings_from
from flrepo.seed.dump import dump
from flrepo.seed.errors import SeedError
from flrepo.seed.progress import byte_progress
from flrepo.seed.restore import RestoreFailed, restore, restore_if_empty
from flrepo.settings import Settings


def _fail(exc: SeedError, restoring: bool = False) -> int:
    print(f"flrepo seed: {exc}", file=sys.stderr)
    if isinstance(exc, RestoreFailed):
        for line in exc.report.written():
            print(f"flrepo seed: written before the failure: {line}", file=sys.stderr)
    elif restoring:
        print("flrepo seed: nothing was written", file=sys.stderr)
    return 1


def restore_command(args: argparse.Namespace) -> int:
    """Restore the repository's namespaces from an archive or dump directory."""
    settings = settings_from(args)
    path: Path = args.path
    if not path.exists():
        print(f"flrepo seed: {path} does not exist", file=sys.stderr)
        return 1
    try:
        with database_url(settings) as url:
            if args.if_empty:
                report = asyncio.run(restore_if_empty(settings.databases, url, path))
            else:
                with byte_progress("restoring") as bar:
                    report = asyncio.run(
                        restore(settings.databases, url, path, drop=args.drop, progress=bar)
                    )
    except SeedError as exc:
        return _fail(exc, restoring=True)
    if report is None:
        print("the repository already holds data; nothing restored")
        return 0
    print("\n".join(report.summary()))
    return 0


def seed_if_empty(settings: Settings, url: str) -> bool:
    """`serve --seed`: restore the archive if the repository is empty; False if that failed."""
    assert settings.seed_archive is not None
    try:
        asyncio.run(restore_if_empty(settings.databases, url, settings.seed_archive))
    except SeedError as exc:
        _fail(exc, restoring=True)
        return False
    return True


def dump_command(args: argparse.Namespace) -> int:
    """Write the repository's namespaces to a mongodump archive."""
    settings = settings_from(args)
    path: Path = args.path
    if path.is_dir():
        print(f"flrepo seed: {path} is a directory; give the archive's file name", file=sys.stderr)
        return 1
    try:
        with database_url(settings) as url, byte_progress("dumping") as bar:
            report = asyncio.run(
                dump(
                    settings.databases,
                    url,
                    path,
                    compress=args.gzip,
                    progress=bar,
                    server_version=args.server_version,
                )
            )
    except SeedError as exc:
        return _fail(exc)
    print("\n".join(report.summary()))
    return 0


def _server_version(text: str) -> str:
    if not re.fullmatch(r"\d+\.\d+\.\d+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a version like 8.0.4")
    return text


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `seed restore` and `seed dump` with the `flrepo` command line."""
    seed = commands.add_parser("seed", help="restore or dump the repository (mongodump format)")
    actions = seed.add_subparsers(dest="seed_command", required=True)

    restore_parser = actions.add_parser(
        "restore",
        help="restore from a mongodump archive (plain or gzip) or dump directory",
        description="Restore the repository's namespaces (the repository and repository_grid "
        "databases); other namespaces are skipped and listed.",
    )
    restore_parser.add_argument("path", type=Path, help="archive file or dump directory")
    mode = restore_parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--drop",
        action="store_true",
        help="empty each restored collection first (default: skip documents whose _id exists)",
    )
    mode.add_argument(
        "--if-empty",
        action="store_true",
        help="restore only into an empty repository; otherwise do nothing (as serve --seed)",
    )
    add_database_options(restore_parser)
    restore_parser.set_defaults(handler=restore_command)

    dump_parser = actions.add_parser(
        "dump",
        help="write a mongodump archive of the repository",
        description="Write an archive that `mongorestore --archive` accepts.",
    )
    dump_parser.add_argument("path", type=Path, help="archive file to write")
    dump_parser.add_argument("--gzip", action="store_true", help="gzip-compress the archive")
    dump_parser.add_argument(
        "--server-version",
        type=_server_version,
        default=os.environ.get("FLREPO_SEED_SERVER_VERSION") or None,
        metavar="X.Y.Z",
        help="MongoDB version the archive's header names, for mongorestore's version check "
        "(default: $FLREPO_SEED_SERVER_VERSION, else the database's own version)",
    )
    add_database_options(dump_parser)
    dump_parser.set_defaults(handler=dump_command)
