"""What every `flrepo` command that opens the database shares: settings and database options."""

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from flrepo.embedded import embedded_database
from flrepo.settings import Settings

log = logging.getLogger("flrepo")


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment settings, overridden by whichever flags were given."""
    given = {
        key: value
        for key in ("host", "port", "mongodb_url", "data_dir", "seed_archive")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings().model_copy(update=given)


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """--mongodb-url and --data-dir, shared by every command that opens the database."""
    parser.add_argument("--mongodb-url", help="MongoDB URL (default: embedded database)")
    parser.add_argument("--data-dir", type=Path, help="embedded database folder (./flrepo-data)")


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
