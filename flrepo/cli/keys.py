"""`flrepo keys add|list|remove` (the keys signatures are verified against) and `flrepo
verify` (every stored signature checked again against them)."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from flrepo.cli.options import add_database_options, database_url, settings_from
from flrepo.cli.token import COMMAND_LINE
from flrepo.documents.database import connect, init_database
from flrepo.documents.errors import RepositoryError
from flrepo.documents.files import FileStore
from flrepo.operations import signatures
from flrepo.operations.access import acting_as
from flrepo.signing.keys import MAX_PEM_BYTES
from flrepo.signing.states import SignatureState

T = TypeVar("T")


def _run(args: argparse.Namespace, operation: Callable[[FileStore], Awaitable[T]]) -> T:
    settings = settings_from(args)

    async def run() -> T:
        client = connect(url)
        try:
            files = await init_database(
                client, settings.db_name, settings.grid_db_name, settings.max_upload_bytes
            )
            with acting_as(COMMAND_LINE):
                return await operation(files)
        finally:
            await client.close()

    with database_url(settings) as url:
        return asyncio.run(run())


def add_command(args: argparse.Namespace) -> int:
    """Trust the public key or certificate in a PEM file."""
    try:
        with Path(args.file).open("rb") as pem_file:
            pem = pem_file.read(MAX_PEM_BYTES + 1)
        key = _run(args, lambda _: signatures.add_key(args.name, pem))
    except (OSError, RepositoryError) as exc:
        print(f"flrepo keys: {exc}", file=sys.stderr)
        return 1
    print(f"key {key.name!r} trusted: {key.kind} {key.fingerprint}")
    print("run 'flrepo verify' to check the stored signatures against it")
    return 0


def list_command(args: argparse.Namespace) -> int:
    found = _run(args, lambda _: signatures.list_keys())
    print(f"{'NAME':24} {'KIND':12} {'ADDED':17} FINGERPRINT (SHA-256) / SUBJECT")
    for key in found:
        line = f"{key.name:24} {key.kind:12} {key.added:%Y-%m-%d %H:%M} {key.fingerprint}"
        print(line + (f" {key.subject}" if key.subject else ""))
    return 0


def remove_command(args: argparse.Namespace) -> int:
    try:
        _run(args, lambda _: signatures.remove_key(args.name))
    except RepositoryError as exc:
        print(f"flrepo keys: {exc}", file=sys.stderr)
        return 1
    print(f"key {args.name!r} removed")
    print("run 'flrepo verify' to check the stored signatures without it")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """Check every stored signature again; print how many files read each state."""
    states = _run(args, signatures.reverify)
    counts = ", ".join(f"{states[state]} {state.value}" for state in SignatureState)
    print(f"signed files checked: {counts}")
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `keys add`, `keys list`, `keys remove` and `verify`."""
    keys = commands.add_parser(
        "keys", help="add, list or remove the keys model signatures are verified against"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True)

    add = actions.add_parser("add", help="trust a PEM public key or (CA) certificate")
    add.add_argument("name", help="the key's name, shown as the signer of what it verifies")
    add.add_argument("file", help="PEM file: an EC public key, or one certificate")
    add_database_options(add)
    add.set_defaults(handler=add_command)

    listing = actions.add_parser("list", help="list the trusted keys")
    add_database_options(listing)
    listing.set_defaults(handler=list_command)

    remove = actions.add_parser("remove", help="stop trusting a key")
    remove.add_argument("name")
    add_database_options(remove)
    remove.set_defaults(handler=remove_command)

    verify = commands.add_parser(
        "verify",
        help="check every stored signature against the trusted keys again",
        description="Check every stored signature against the trusted keys again, and store "
        "the states that changed (run after adding or removing keys).",
    )
    add_database_options(verify)
    verify.set_defaults(handler=verify_command)
