"""What every `flrepo` command that opens the database shares: settings and database options."""

import argparse
import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from flrepo.embedded import embedded_database
from flrepo.settings import Settings, env_names
from flrepo.startup import SettingError

log = logging.getLogger("flrepo")

FLAGS = ("host", "port", "mongodb_url", "data_dir", "seed_archive")


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment settings, overridden by whichever flags were given; one line if invalid."""
    given = {key: value for key in FLAGS if (value := getattr(args, key, None)) is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingError(_invalid(exc, given)) from None


def _field_of(location: str) -> str:
    """The settings field an error location (field name or environment variable) belongs to."""
    for field in Settings.model_fields:
        if location == field or location.upper() in env_names(field):
            return field
    return location


def _invalid(exc: ValidationError, given: dict[str, object]) -> str:
    """The first invalid setting, named as the user set it: the flag, else the variable."""
    error = exc.errors()[0]
    field = _field_of(str(error["loc"][0])) if error["loc"] else ""
    info = Settings.model_fields.get(field)
    if field in given:
        source = f"--{field.replace('_', '-')} "
    else:
        environ = {name.upper(): name for name in os.environ}
        names = env_names(field) if info else []
        source = next((f"{environ[n]}=" for n in names if n in environ), f"{field or 'setting'} ")
    expected = f"; expected {info.description}" if info and info.description else ""
    return f"{source}{error.get('input')!r} is invalid: {error['msg']}{expected}"


def environment_help() -> str:
    """The environment variables of the settings, for `--help` (generated, so it cannot drift)."""
    lines = ["environment variables (flags override them):"]
    for field, info in Settings.model_fields.items():
        names = ", ".join(env_names(field))
        default = "" if info.default is None else f" (default: {info.default})"
        lines.append(f"  {names:<32} {info.description or ''}{default}")
    return "\n".join(lines)


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
    with embedded_database(
        settings.data_dir, settings.oplog_retention_s, settings.oplog_max_entries
    ) as url:
        log.warning(
            "using the embedded development database in %s; for production set "
            "FLREPO_MONGODB_URL (or --mongodb-url) to a MongoDB server",
            settings.data_dir.resolve(),
        )
        yield url
