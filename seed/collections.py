"""Collections and views a restore creates: with the options the dump's metadata records."""

from typing import Any

from flrepo.seed.errors import SeedError
from flrepo.seed.metadata import CollectionInfo
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

# Where an archive of `mongodump --oplog` keeps the oplog (no database name).
OPLOG_NAMESPACE = ".oplog"
VIEW_OPTIONS = ("viewOn", "pipeline", "collation")


def options_of(info: CollectionInfo) -> dict[str, Any]:
    """The `create` options the dump recorded for a collection or view (capped, validator...)."""
    options = info.parsed().get("options") or {}
    if not isinstance(options, dict):
        raise SeedError(f"metadata of {info.namespace} has invalid collection options")
    return options


def comparable(value: Any) -> Any:
    """Numbers compared by value (a dump's int32 size equals the server's int64 one)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


async def _existing(db: AsyncDatabase, name: str) -> dict[str, Any] | None:
    async for entry in await db.list_collections(filter={"name": name}):
        return entry
    return None


async def create_collection(db: AsyncDatabase, name: str, options: dict[str, Any]) -> str | None:
    """Create `name` with `options` unless it exists; a warning if it exists with other options."""
    entry = await _existing(db, name)
    if entry is not None:
        current = entry.get("options") or {}
        if entry.get("type", "collection") != "collection" or comparable(current) != comparable(
            options
        ):
            return (
                f"{db.name}.{name} exists with other options than the dump's; kept it "
                "(use --drop to recreate it)"
            )
        return None
    try:
        await db.command({"create": name, **options})
    except OperationFailure as exc:
        reason = (exc.details or {}).get("errmsg") or str(exc)
        raise SeedError(
            f"cannot create {db.name}.{name} with the dump's options: {reason}"
        ) from None
    return None


async def create_view(db: AsyncDatabase, name: str, options: dict[str, Any]) -> str | None:
    """Create the view `name` unless it exists; a warning if it exists otherwise defined."""
    wanted = {k: options[k] for k in VIEW_OPTIONS if k in options}
    if not isinstance(wanted.get("viewOn"), str):
        raise SeedError(f"the dump's view {db.name}.{name} names no source collection")
    entry = await _existing(db, name)
    if entry is not None:
        current = {k: v for k, v in (entry.get("options") or {}).items() if k in VIEW_OPTIONS}
        if entry.get("type") != "view" or comparable(current) != comparable(wanted):
            return f"{db.name}.{name} exists and is not the dump's view; kept it (use --drop)"
        return None
    try:
        await db.command({"create": name, **wanted})
    except OperationFailure as exc:
        reason = (exc.details or {}).get("errmsg") or str(exc)
        raise SeedError(f"cannot create the view {db.name}.{name}: {reason}") from None
    return None
