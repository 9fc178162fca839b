"""Results ranked by one metric, read from the ranking rows (documents/ranks.py).

The numbers come first: one range of the rows' position field for the ranking's filters
(documents/rank_positions.py), read in that field's index order; the results without that
metric as a number follow in `_id` order, walked on the `_id` index.
"""

import math
from dataclasses import dataclass
from typing import Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.rank_positions import FILTERS, VARIANTS, bounds, position, prefix
from flrepo.documents.ranks import NUMERIC, RANKS
from flrepo.documents.training_result import TrainingResult
from flrepo.operations.cursors import FORGED, Page, after, decode, encode, keyset
from flrepo.operations.window_ends import BEGINNING, WindowEnds

RANKED = "ranked"  # cursor kind: (metric, direction, key, result id); key null in the tail
BY_ID = [("_id", 1)]
ROW = {"_id": 0, "rid": 1, "key": 1}  # what a page reads of its rows
ENDS = WindowEnds()  # of each ranking's walk (its position field and prefix)


@dataclass(frozen=True)
class Ranking:
    metric: str
    descending: bool
    query: dict[str, Any]  # equality filters on model_name, model_version, configuration_id

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"

    @property
    def filters(self) -> tuple[str, ...]:
        return tuple(field for field in FILTERS if field in self.query)

    @property
    def field(self) -> str:
        """The rows' position field of this ranking's set of filters."""
        return VARIANTS[self.filters]

    @property
    def prefix(self) -> str:
        """What the positions of this ranking's rows begin with."""
        values = [self.query[field] for field in self.filters]
        return prefix([self.metric, self.direction, *values])

    def rows_query(self, start: str | None = None, end: str | None = None) -> dict[str, Any]:
        """The ranking's rows (after the position `start`, up to `end` included): one range
        of `field`."""
        low, high = bounds(self.prefix)
        upper = {"$lte": end} if end is not None else {"$lt": high}
        return {self.field: {"$gt" if start else "$gte": start or low, **upper}}

    async def rows(self, start: str | None, skip: int, count: int) -> list[dict[str, Any]]:
        """Rows `skip` to `skip + count` of the ranking after the position `start`, read up
        to the end of a window read before where one is kept (`window_ends`)."""
        collection = TrainingResult.get_pymongo_collection().database[RANKS]
        fields = {**ROW, self.field: 1}

        async def read(end: str | None) -> list[dict[str, Any]]:
            walk = collection.find(self.rows_query(start, end), fields).sort(self.field, 1)
            return await walk.skip(skip).limit(count).to_list()

        return await ENDS.read(
            (collection.database.name, self.field, self.prefix),
            read,
            count,
            lambda row: row[self.field],
            start=BEGINNING if start is None else start,
            skip=skip,
        )

    def tail_query(self) -> dict[str, Any]:
        return {**self.query, f"{NUMERIC}.k": {"$ne": self.metric}}

    def cursor(self, key: float | None, rid: Any) -> str:
        return encode(RANKED, [self.metric, self.direction, key, rid])

    async def page(self, offset: int, limit: int) -> list[TrainingResult]:
        """Items `offset` to `offset + limit` of the ranking."""
        rows = TrainingResult.get_pymongo_collection().database[RANKS]
        found = await self.rows(None, offset, limit)
        out = [doc for _, doc in await self._results(found)]
        if len(out) < limit:
            # a short page that holds numbers ends them; else they end before `offset`
            numbers = offset + len(found)
            if not found:
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
        start: str | None = None
        tail_start: list[dict[str, Any]] | None = None
        if cursor is not None:
            metric, direction, key, rid = decode(cursor, RANKED, 4)
            if metric != self.metric or direction != self.direction:
                raise_forged()
            if key is None:
                in_tail = True
                tail_start = after(["_id"], [rid])
            else:
                start = position(self.prefix, number(key), rid)
        edges: list[tuple[str, TrainingResult]] = []
        more = False
        if not in_tail:
            found = await self.rows(start, 0, first + 1)
            found, more = found[:first], len(found) > first
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


def number(key: Any) -> float:
    """The key a cursor holds, as the finite double a row holds; InvalidInput otherwise."""
    if isinstance(key, bool) or not isinstance(key, int | float):
        raise_forged()
    try:
        value = float(key)
    except OverflowError:
        raise InvalidInput(FORGED) from None
    if not math.isfinite(value):
        raise_forged()
    return value
