"""Results ranked by one metric, read from the ranking rows (documents/ranks.py).

The numbers come first, from an index on (metric, direction, filters, key, result id); the
results without that metric as a number follow in `_id` order, walked on the `_id` index.
"""

from dataclasses import dataclass
from typing import Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.ranks import NUMERIC, RANKS
from flrepo.documents.training_result import TrainingResult
from flrepo.operations.cursors import FORGED, Page, after, decode, encode, keyset

RANKED = "ranked"  # cursor kind: (metric, direction, key, result id); key null in the tail
KEY = [("key", 1), ("rid", 1)]
BY_ID = [("_id", 1)]


@dataclass(frozen=True)
class Ranking:
    metric: str
    descending: bool
    query: dict[str, Any]  # equality filters on model_name, model_version, configuration_id

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"

    def rows_query(self) -> dict[str, Any]:
        return {"metric": self.metric, "dir": self.direction, **self.query}

    def tail_query(self) -> dict[str, Any]:
        return {**self.query, f"{NUMERIC}.k": {"$ne": self.metric}}

    def cursor(self, key: float | None, rid: Any) -> str:
        return encode(RANKED, [self.metric, self.direction, key, rid])

    async def page(self, offset: int, limit: int) -> list[TrainingResult]:
        """Items `offset` to `offset + limit` of the ranking."""
        rows = TrainingResult.get_pymongo_collection().database[RANKS]
        cursor = rows.find(self.rows_query()).sort(KEY)
        found = await cursor.skip(offset).limit(limit).to_list()
        out = [doc for _, doc in await self._results(found)]
        if len(out) < limit:
            numbers = await rows.count_documents(self.rows_query())
            skip = max(0, offset - numbers)
            collection = TrainingResult.get_pymongo_collection()
            tail = collection.find(self.tail_query()).sort(BY_ID).hint(BY_ID)
            docs = await tail.skip(skip).limit(limit - len(out)).to_list()
            out += [TrainingResult.model_validate(doc) for doc in docs]
        return out

    async def connection(self, first: int, cursor: str | None) -> Page[TrainingResult]:
        """`first` items after the item `cursor` names."""
        in_tail = False
        start: list[dict[str, Any]] | None = None
        tail_start: list[dict[str, Any]] | None = None
        if cursor is not None:
            metric, direction, key, rid = decode(cursor, RANKED, 4)
            if metric != self.metric or direction != self.direction:
                raise_forged()
            if key is None:
                in_tail = True
                tail_start = after(["_id"], [rid])
            elif isinstance(key, int | float) and not isinstance(key, bool):
                start = after(["key", "rid"], [float(key), rid])
            else:
                raise_forged()
        edges: list[tuple[str, TrainingResult]] = []
        more = False
        if not in_tail:
            rows = TrainingResult.get_pymongo_collection().database[RANKS]
            found, more = await keyset(rows, self.rows_query(), KEY, first, start)
            ranked = await self._results(found)
            edges = [(self.cursor(row["key"], row["rid"]), doc) for row, doc in ranked]
            if more:
                return Page(edges, True)
        need = first - len(edges)
        collection = TrainingResult.get_pymongo_collection()
        docs, more = await keyset(collection, self.tail_query(), BY_ID, need, tail_start, BY_ID)
        edges += [(self.cursor(None, d["_id"]), TrainingResult.model_validate(d)) for d in docs]
        return Page(edges, more)

    async def _results(
        self, rows: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], TrainingResult]]:
        """The results the rows rank, in their order (one query). Rows of a result deleted
        meanwhile, or not yet inserted (its rows are written first), are skipped; those a
        crash left behind are removed by `flrepo check --repair`."""
        collection = TrainingResult.get_pymongo_collection()
        ids = [row["rid"] for row in rows]
        by_id = {d["_id"]: d for d in await collection.find({"_id": {"$in": ids}}).to_list()}
        return [
            (row, TrainingResult.model_validate(by_id[row["rid"]]))
            for row in rows
            if row["rid"] in by_id
        ]


def raise_forged() -> None:
    raise InvalidInput(FORGED)
