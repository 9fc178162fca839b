"""`flrepo check [--repair]`: the repository's files against its metadata."""

import argparse
import asyncio
import sys

from flrepo.cli.options import add_database_options, database_url, settings_from
from flrepo.documents.database import connect, durable_writes
from flrepo.documents.integrity import Report, Repository, check
from flrepo.documents.storage_use import live_bytes
from flrepo.embedded import disk_bytes, require_database
from flrepo.seed.progress import Update, byte_progress
from flrepo.settings import Settings


async def run_check(
    settings: Settings, url: str, grace_s: float, repair: bool, progress: Update | None
) -> tuple[Report, int]:
    """The report, and the bytes of live data and indexes after it (and any repair)."""
    client = connect(url)
    try:
        concern = await durable_writes(client, settings.write_concern)
        repo = Repository(
            client.get_database(settings.db_name, write_concern=concern),
            client.get_database(settings.grid_db_name, write_concern=concern),
        )
        report = await check(repo, grace_s, repair, progress)
        return report, await live_bytes(client, settings.db_name, settings.grid_db_name)
    finally:
        await client.close()


def storage_line(live: int, disk: int | None) -> str:
    """Live bytes, against the embedded database's bytes on disk (SecantusDB cannot compact:
    the space of deleted data is reused by later writes, never given back to the disk)."""
    line = f"storage: {live:,} bytes of live data and indexes"
    return line if disk is None else f"{line}, {disk:,} bytes on disk (with the oplog)"


def check_command(args: argparse.Namespace) -> int:
    """Print every problem; exit 1 if any (with --repair: any that repair could not fix)."""
    settings = settings_from(args)
    grace_s = settings.orphan_grace_s if args.grace is None else args.grace
    with database_url(settings) as url:
        if settings.mongodb_url:
            require_database(url)
        with byte_progress("checking") as bar:
            report, live = asyncio.run(run_check(settings, url, grace_s, args.repair, bar))
        disk = None if settings.mongodb_url else disk_bytes(settings.data_dir.resolve())
    print(storage_line(live, disk), file=sys.stderr)
    for finding in report.findings:
        print(("repaired " if finding in report.repaired else "") + str(finding))
    left = report.unrepaired if args.repair else report.findings
    if not report.findings:
        print("flrepo check: no problems found")
    elif args.repair:
        print(
            f"flrepo check: {len(report.findings)} found, {len(report.repaired)} repaired, "
            f"{len(left)} left (damaged files are reported, never removed)",
            file=sys.stderr,
        )
    else:
        print(
            f"flrepo check: {len(left)} found; --repair fixes all but damaged files",
            file=sys.stderr,
        )
    return 1 if left else 0


def add_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `check` with the `flrepo` command line."""
    parser = commands.add_parser(
        "check",
        help="check files against metadata; --repair removes orphans and expired uploads",
        description="Find uploads whose lease ran out, orphaned GridFS files and chunks, "
        "references to missing files, files whose chunks do not add up to their length, and "
        "files whose bytes no longer match their sha256 (as the server's sweep finds the "
        "first two, and removes them). Exit code 1 when something was found (with --repair: "
        "when something is left that repair cannot fix).",
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="remove expired uploads with their bytes, and orphans older than the grace period; "
        "unset references to missing files",
    )
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        help="orphans younger than this are left alone (FLREPO_ORPHAN_GRACE_S, 3600)",
    )
    add_database_options(parser)
    parser.set_defaults(handler=check_command)
