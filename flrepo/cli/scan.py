"""`flrepo scan`: label the files of a repository with a pickle scan."""

import argparse
import asyncio
import sys

from pymongo.errors import PyMongoError

from flrepo.cli.options import add_database_options, database_url, settings_from
from flrepo.documents.database import connect
from flrepo.documents.files import ByteProgress, FileStore
from flrepo.documents.safety_labels import LabelReport, label_files
from flrepo.seed.progress import byte_progress
from flrepo.settings import Settings


async def scan(
    settings: Settings, url: str, rescan: bool, progress: ByteProgress | None
) -> LabelReport:
    client = connect(url)
    try:
        files = FileStore(
            client[settings.grid_db_name], settings.max_upload_bytes, scanning=settings.scanning
        )
        return await label_files(files, rescan=rescan, progress=progress)
    finally:
        await client.close()


def scan_command(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        with database_url(settings) as url, byte_progress("scanning") as bar:
            report = asyncio.run(scan(settings, url, args.rescan, bar))
    except PyMongoError as exc:
        print(f"flrepo scan: database error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.unreadable else 0


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `scan` with the `flrepo` command line."""
    parser = commands.add_parser(
        "scan",
        help="scan stored files for dangerous pickles and label them",
        description="Scan every stored file never scanned (files stored before scanning, "
        "or taken over from another repository) or scanned by an older scanner, and store "
        "its pickle verdict, with the allowlists and budget of FLREPO_PICKLE_ALLOW and "
        "FLREPO_SCAN_BUDGET_S*. Files are read chunk by chunk, never unpickled. After "
        "changing the allowlists, use --rescan.",
    )
    parser.add_argument(
        "--rescan", action="store_true", help="scan every file again, also those already labelled"
    )
    add_database_options(parser)
    parser.set_defaults(handler=scan_command)
