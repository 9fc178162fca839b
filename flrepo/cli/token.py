"""`flrepo token create|list|revoke`: manage API tokens directly in the database."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from flrepo.cli.options import add_database_options, database_url, settings_from
from flrepo.documents.database import connect, init_database
from flrepo.documents.errors import RepositoryError
from flrepo.operations import tokens
from flrepo.operations.access import SCOPES, Caller, acting_as, parse_scopes

T = TypeVar("T")
# Whoever can run this command can open the database itself.
COMMAND_LINE = Caller("command line", frozenset(SCOPES), token=True)


def _run(args: argparse.Namespace, operation: Callable[[], Awaitable[T]]) -> T:
    settings = settings_from(args)

    async def run() -> T:
        client = connect(url)
        try:
            await init_database(
                client, settings.db_name, settings.grid_db_name, settings.max_upload_bytes
            )
            with acting_as(COMMAND_LINE):
                return await operation()
        finally:
            await client.close()

    with database_url(settings) as url:
        return asyncio.run(run())


def create_command(args: argparse.Namespace) -> int:
    """Create a token; its secret is printed once, as the last line."""
    try:
        scopes = sorted(parse_scopes(args.scopes), key=SCOPES.index)
        token, secret = _run(args, lambda: tokens.create_token(args.name, scopes, args.expires))
    except (RepositoryError, ValueError) as exc:
        print(f"flrepo token: {exc}", file=sys.stderr)
        return 1
    expiry = f"expires {token.expires:%Y-%m-%d %H:%M} UTC" if token.expires else "never expires"
    print(f"token {token.name!r}: scopes {','.join(token.scopes)}; {expiry}")
    print("the secret is shown only now; send it as 'Authorization: Bearer <secret>':")
    print(secret)
    return 0


def list_command(args: argparse.Namespace) -> int:
    found = _run(args, tokens.list_tokens)
    print(f"{'NAME':24} {'SCOPES':28} {'CREATED':17} EXPIRES")
    for token in found:
        expires = f"{token.expires:%Y-%m-%d %H:%M}" if token.expires else "never"
        line = f"{token.name:24} {','.join(token.scopes):28} {token.created:%Y-%m-%d %H:%M} "
        print(line + expires)
    return 0


def revoke_command(args: argparse.Namespace) -> int:
    try:
        _run(args, lambda: tokens.revoke_token(args.name))
    except RepositoryError as exc:
        print(f"flrepo token: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked")
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register `token create`, `token list` and `token revoke`."""
    token = commands.add_parser("token", help="create, list or revoke API tokens")
    actions = token.add_subparsers(dest="token_command", required=True)

    create = actions.add_parser("create", help="create a token and print its secret once")
    create.add_argument("name", help="the token's name, as logged with what it does")
    create.add_argument(
        "--scopes", required=True, help=f"comma list of {', '.join(SCOPES)} (e.g. read,write)"
    )
    create.add_argument("--expires", type=int, metavar="DAYS", help="expire after DAYS days")
    add_database_options(create)
    create.set_defaults(handler=create_command)

    listing = actions.add_parser("list", help="list tokens (names, scopes, expiry; no secrets)")
    add_database_options(listing)
    listing.set_defaults(handler=list_command)

    revoke = actions.add_parser("revoke", help="delete a token: its secret stops working")
    revoke.add_argument("name")
    add_database_options(revoke)
    revoke.set_defaults(handler=revoke_command)
