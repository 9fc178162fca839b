"""Rankings by a metric: a numeric copy of each metric, kept at write time.

A result's `results` stay as the original service stored them (strings mostly). Beside
them the result keeps `metrics_numeric`, a list of `{k: name, v: number}` for the metrics
that are numbers, and the collection `result_positions` holds one row per (result, metric,
direction) with its `key`: `v` ascending, `-v` descending, so that ties come in the result's
id order both ways. The row's place in each ranking it belongs to is one string per set of
filters (documents/rank_positions.py), each with its own index. Metric names are values
there, never field paths, so any name (dots, dollars) can be ranked by, and one index per
set of filters serves every metric.

Rows written before the positions lived in `result_ranks`; the startup drops that
collection and has every result ranked again (`drop_old_rows`).
"""

import math
import re
from typing import Any

from bson import Decimal128
from flrepo.documents.rank_positions import VARIANTS, positions
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

RANKS = "result_positions"
OLD_RANKS = "result_ranks"  # rows without positions, from before them
NUMERIC = "metrics_numeric"
DIRECTIONS = {"asc": 1.0, "desc": -1.0}
MAX_RANKED = 100  # metrics ranked per result: bounds the rows one write adds
MAX_METRIC_NAME = 256  # the longest name a ranking accepts

# A decimal number as text: what the original stored ("0.2429", "10", "1e-3").
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


RANK_INDEXES = [
    IndexModel([("rid", ASCENDING), ("metric", ASCENDING), ("dir", ASCENDING)], unique=True),
    *[IndexModel([(field, ASCENDING)]) for field in VARIANTS.values()],
]


def as_number(value: Any) -> float | None:
    """A metric as a finite double: numbers and decimal strings; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, str):
        if len(value) > 64 or not _NUMBER.fullmatch(value.strip()):
            return None
        value = value.strip()
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def numeric_metrics(results: Any) -> list[dict[str, Any]]:
    """`{k, v}` for each metric of `results` that is a number, the first MAX_RANKED of them
    (a result with more metrics than that ranks last by the others), named as a ranking
    can name them."""
    if not isinstance(results, dict):
        return []
    out = []
    for name, value in results.items():
        number = as_number(value)
        if number is not None and isinstance(name, str) and 0 < len(name) <= MAX_METRIC_NAME:
            out.append({"k": name, "v": number})
            if len(out) == MAX_RANKED:
                break
    return out


def rank_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows that rank the result `doc` (a stored document, with `_id`)."""
    rows = []
    for m in numeric_metrics(doc.get("results")):
        for d, sign in DIRECTIONS.items():
            key = sign * m["v"] + 0.0  # + 0.0: -0.0 becomes 0.0, as in the positions
            row = {"rid": doc["_id"], "metric": m["k"], "dir": d, "key": key}
            rows.append(row | positions(m["k"], d, key, doc["_id"], doc))
    return rows


async def rank(db: AsyncDatabase, docs: list[dict[str, Any]]) -> None:
    """Write the rows of `docs`, then mark each ranked (`metrics_numeric`); idempotent.

    Rows go first: a result marked ranked has its rows. A crash in between leaves unmarked
    results, which the startup backfill ranks again.
    """
    if not docs:
        return
    rows = [row for doc in docs for row in rank_rows(doc)]
    if rows:
        await db[RANKS].bulk_write(
            [
                UpdateOne(
                    {"rid": r["rid"], "metric": r["metric"], "dir": r["dir"]},
                    {"$set": r},
                    upsert=True,
                )
                for r in rows
            ],
            ordered=False,
        )
    await db["results"].bulk_write(
        [
            UpdateOne({"_id": doc["_id"]}, {"$set": {NUMERIC: numeric_metrics(doc.get("results"))}})
            for doc in docs
        ],
        ordered=False,
    )


async def rank_new(db: AsyncDatabase, doc: dict[str, Any]) -> dict[str, Any]:
    """Write the rows of a result about to be inserted (`doc` with its `_id`); the fields
    to insert it with. Rows first: a crash before the insert leaves rows of no result,
    which rankings skip and drop; never a result marked ranked without its rows."""
    rows = rank_rows(doc)
    if rows:
        await db[RANKS].insert_many(rows, ordered=False)
    return {NUMERIC: numeric_metrics(doc.get("results"))}


async def unrank(db: AsyncDatabase, result_id: Any) -> None:
    """Remove the rows of a deleted result."""
    await db[RANKS].delete_many({"rid": result_id})


async def drop_old_rows(db: AsyncDatabase) -> bool:
    """If rows from before the positions remain (`result_ranks`), unmark every result so
    that the backfill ranks it again, then drop them; whether there were any. Unmarked
    first: a crash in between leaves the old rows, and this runs again at the next start."""
    if not await db.list_collection_names(filter={"name": OLD_RANKS}):
        return False
    await db["results"].update_many({NUMERIC: {"$exists": True}}, {"$unset": {NUMERIC: ""}})
    await db.drop_collection(OLD_RANKS)
    return True
