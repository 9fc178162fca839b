"""The non-unique indexes behind every listing, filter and ranking (created at startup).

Each listing index ends with the listing order (`created_at`, `_id`), after the fields a
filter fixes by equality, so that a page is an index walk and not a sort of the collection.
"""

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
