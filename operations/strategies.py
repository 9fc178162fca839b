"""Operations on FL strategies and their pickled objects."""

from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.strategy import Strategy
from flrepo.operations.access import requires
from flrepo.operations.common import (
    FileSource,
    FileTarget,
    attach_file,
    delete_with_file,
    find_page,
    insert_new,
    update_fields,
)
from flrepo.operations.validation import check_name, check_object


def strategy_key(strategy_name: str) -> dict[str, str]:
    return {"strategy_name": check_name(strategy_name, "strategy name")}


def _what(strategy_name: str) -> str:
    return f"strategy {strategy_name!r}"


@requires("read")
async def list_strategies(limit: int | None = 100, offset: int = 0) -> list[Strategy]:
    return await find_page(Strategy, {}, limit, offset)


@requires("read")
async def get_strategy(strategy_name: str) -> Strategy | None:
    return await Strategy.find_one(strategy_key(strategy_name))


@requires("write")
async def create_strategy(
    strategy_name: str, strategy_description: str | None, meta: dict[str, Any] | None
) -> Strategy:
    strategy = Strategy(
        **strategy_key(strategy_name),
        strategy_description=strategy_description,
        meta=check_object(meta, "meta"),
    )
    return await insert_new(strategy, _what(strategy_name))


@requires("write")
async def update_strategy_meta(strategy_name: str, meta: dict[str, Any]) -> Strategy:
    return await update_fields(
        Strategy,
        strategy_key(strategy_name),
        {"meta": check_object(meta, "meta")},
        _what(strategy_name),
    )


def strategy_file_target(strategy_name: str) -> FileTarget[Strategy]:
    return FileTarget(
        Strategy,
        strategy_key(strategy_name),
        Strategy.FILE_FIELD,
        f"strategy/{strategy_name}",
        _what(strategy_name),
    )


@requires("write")
async def upload_strategy_file(
    files: FileStore, strategy_name: str, source: FileSource, sha256: str | None = None
) -> Strategy:
    return await attach_file(files, strategy_file_target(strategy_name), source, sha256)


@requires("delete")
async def delete_strategy(files: FileStore, strategy_name: str) -> bool:
    return await delete_with_file(
        files, Strategy, strategy_key(strategy_name), Strategy.FILE_FIELD, _what(strategy_name)
    )
