"""The non-unique indexes behind every listing, filter and ranking (created at startup).

Each listing index ends with the listing order (`created_at`, `_id`), after the fields a
filter fixes by equality, so that a page is an index walk and not a sort of the collection.
"""

from typing import Any

from flrepo.documents.ordering import ORDER
from flrepo.documents.ranks import RANK_INDEXES, RANKS
from pymongo import ASCENDING, IndexModel


def _ordered(*prefix: str) -> IndexModel:
    return IndexModel([*((field, ASCENDING) for field in prefix), *ORDER])


LISTING_INDEXES: dict[str, list[IndexModel]] = {
    "results": [
        _ordered(),
        _ordered("model_name"),
        _ordered("model_name", "model_version"),
        _ordered("configuration_id"),
    ],
    "models": [
        _ordered(),
        _ordered("model_name"),
        _ordered("meta.library"),
        _ordered("trained"),
    ],
    "strategies": [_ordered()],
    "transformations": [_ordered()],
    RANKS: RANK_INDEXES,
}


def listing_hint(collection: str, query: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """The index to walk for `query` on `collection`: of those whose fields before the order
    (the last two) `query` fixes by equality, the longest. None when nothing is fixed: any
    planner then takes the bare order index, and a range on its first field stays a range.

    Planners otherwise may take a unique key that shares the first field and sort its rows.
    """
    fixed = {field for field, value in query.items() if not isinstance(value, dict)}
    best: list[tuple[str, Any]] | None = None
    for index in LISTING_INDEXES[collection]:
        key = list(index.document["key"].items())
        prefix = {field for field, _ in key[:-2]}
        if prefix and prefix <= fixed and (best is None or len(key) > len(best)):
            best = key
    return best
