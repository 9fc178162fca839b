"""Named versions of a model: moving an alias, and the history of its moves.

Moving a protected alias (FLREPO_PROTECTED_ALIASES) needs the `promote` scope, any other
`write`. `best` and `latest` are derived from each run's rounds, so they are no alias names.
"""

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from flrepo.documents.aliases import AliasMove, ModelAlias
from flrepo.documents.changes import ChangeFeed, ChangeKind
from flrepo.documents.errors import Conflict, InvalidInput, NotFound
from flrepo.documents.files import FileStore
from flrepo.documents.ml_model import MLModel
from flrepo.operations import events
from flrepo.operations.access import check, requires
from flrepo.operations.common import beside_files
from flrepo.operations.models import model_key
from flrepo.operations.validation import check_name, check_page
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

audit = logging.getLogger("flrepo.audit")
DERIVED = ("best", "latest")  # what each run answers itself; never stored
MAX_ALIASES_LISTED = 100
MOVES = AliasMove.Settings.name


def check_alias(alias: str) -> str:
    name = check_name(alias, "alias")
    if name.lower() in DERIVED:
        raise InvalidInput(f"{name!r} is derived from a run's rounds and cannot be set")
    return name


async def move_alias(
    files: FileStore, protected: frozenset[str], model_name: str, alias: str, model_version: str
) -> ModelAlias:
    """Point `alias` of the model at `model_version`, and keep the move in the history.

    Pointing it where it points already changes nothing. The alias and its history entry are
    written in one transaction where the server has them.
    """
    key = model_key(model_name, model_version)
    name = check_alias(alias)
    caller = check("promote" if name in protected else "write")
    audit.info("move_alias by %s: %r %r -> %r", caller.name, model_name[:100], name, model_version)
    if await MLModel.find_one(key) is None:
        raise NotFound(f"model {model_name!r} version {model_version!r} does not exist")
    aliases = beside_files(files, ModelAlias)
    moves = beside_files(files, AliasMove)
    where = {"model_name": key["model_name"], "alias": name}

    async def move(session: AsyncClientSession | None) -> dict[str, Any]:
        old = await aliases.find_one(where, session=session)
        if old is not None and old["model_version"] == key["model_version"]:
            return old
        now = datetime.now(UTC)
        new = {**where, "model_version": key["model_version"], "moved_at": now}
        new["moved_by"] = caller.name
        # Only from the version read, so that two concurrent moves each record their own.
        given = {"model_version": old["model_version"]} if old else {}
        await aliases.update_one({**where, **given}, {"$set": new}, upsert=True, session=session)
        entry = {**where, "from_version": old and old["model_version"]}
        entry |= {"to_version": key["model_version"], "moved_at": now, "moved_by": caller.name}
        await moves.insert_one(entry, session=session)
        return new

    for _ in range(10):
        try:
            return ModelAlias.model_validate(await files.in_transaction(move))
        except DuplicateKeyError:  # moved by another request between our read and write
            continue
    raise Conflict(f"alias {name!r} of model {model_name!r} keeps moving; try again")


@requires("read")
async def list_aliases(model_name: str) -> list[ModelAlias]:
    """The model's aliases by name (at most MAX_ALIASES_LISTED)."""
    query = {"model_name": check_name(model_name, "model name")}
    return await ModelAlias.find(query).sort("alias").limit(MAX_ALIASES_LISTED).to_list()


@requires("read")
async def get_alias(model_name: str, alias: str) -> ModelAlias | None:
    query = {"model_name": check_name(model_name, "model name"), "alias": check_alias(alias)}
    return await ModelAlias.find_one(query)


@requires("read")
async def alias_history(
    model_name: str, alias: str | None = None, limit: int = 100, offset: int = 0
) -> list[AliasMove]:
    """One page of the model's alias moves (of one alias, if given), newest first."""
    check_page(limit, offset)
    query = {"model_name": check_name(model_name, "model name")}
    if alias is not None:
        query["alias"] = check_name(alias, "alias")
    moves = AliasMove.find(query).sort([("moved_at", -1), ("_id", -1)])
    return await moves.skip(offset).limit(limit).to_list()


async def aliases_moved(feed: ChangeFeed, model_name: str | None) -> AsyncIterator[AliasMove]:
    """Alias moves as they happen."""
    async for change in events.changes(feed, {MOVES}, model_name=model_name):
        if change.kind is ChangeKind.CREATED:
            yield AliasMove.model_validate(change.document)
