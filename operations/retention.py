"""Which rounds of a run keep their files (FLREPO_ROUND_RETENTION), and the best round of a
run by a metric, which retention keeps and `bestRound` answers."""

import re
from dataclasses import dataclass
from typing import Any

from flrepo.documents.files import FileStore
from flrepo.documents.runs import Objective, Round, TrainingRun

NAN = float("nan")  # stands for "no number" in the ranking of rounds by a metric


@dataclass(frozen=True)
class Retention:
    """Which rounds keep their weights: all (`keep_last` None), or the last N and the best."""

    keep_last: int | None = None
    best: Objective | None = None  # else the run's declared objective

    @classmethod
    def parse(cls, text: str, best: str | None = None) -> "Retention":
        """`all` or `last:N` (N ≥ 1); `best` is `metric:max` or `metric:min` (or unset)."""
        objective = None
        if best:
            metric, _, direction = best.rpartition(":")
            if direction not in ("max", "min") or not metric:
                raise ValueError("expected metric:max or metric:min")
            objective = Objective(metric=metric, direction=direction)  # type: ignore[arg-type]
        if text.strip() == "all":
            return cls(None, objective)
        match = re.fullmatch(r"\s*last:(\d{1,9})\s*", text)
        if not match or int(match[1]) < 1:
            raise ValueError("expected `all` or `last:N` with N at least 1")
        return cls(int(match[1]), objective)


def metric_value(metric: str) -> dict[str, Any]:
    """`metrics[metric]` as a double (numbers and numeric strings); anything else NaN."""
    raw = {"$getField": {"field": {"$literal": metric}, "input": {"$ifNull": ["$metrics", {}]}}}
    numeric = {"$in": [{"$type": raw}, ["double", "int", "long", "decimal", "string"]]}
    as_double = {"$convert": {"input": raw, "to": "double", "onError": NAN, "onNull": NAN}}
    return {"$cond": [numeric, as_double, NAN]}


async def best_of(key: dict[str, str], objective: Objective) -> Round | None:
    pipeline = [
        {"$match": key},
        {"$addFields": {"_metric": metric_value(objective.metric)}},
        {"$match": {"$expr": {"$ne": ["$_metric", NAN]}}},
        {"$sort": {"_metric": -1 if objective.direction == "max" else 1, "number": 1}},
        {"$limit": 1},
        {"$project": {"_metric": 0}},
    ]
    found = await Round.aggregate(pipeline, projection_model=Round).to_list()
    return found[0] if found else None


async def apply_retention(files: FileStore, retention: Retention, run: TrainingRun) -> None:
    """Delete the weights (and aggregator state) of the rounds the policy does not keep.

    Each round forgets its files before they are deleted, so a crash leaves orphans for the
    sweep, never a round naming a missing file. Metrics and participants stay.
    """
    if retention.keep_last is None:
        return
    key = {"model_name": run.model_name, "model_version": run.model_version}
    key["training_id"] = run.training_id
    newest = await Round.find(key).sort("-number").limit(retention.keep_last).to_list()
    keep = {r.number for r in newest}
    objective = retention.best or run.objective
    if objective is not None and (best := await best_of(key, objective)) is not None:
        keep.add(best.number)
    query = {**key, "number": {"$nin": sorted(keep)}, "weights_id": {"$ne": None}}
    while batch := await Round.find(query).limit(100).to_list():
        for old in batch:
            forget = {"weights_id": None, "aggregator_state_id": None}
            done = await Round.get_pymongo_collection().update_one(
                {"_id": old.id, "weights_id": old.weights_id}, {"$set": forget}
            )
            if done.modified_count:
                await files.delete(old.weights_id)
                await files.delete(old.aggregator_state_id)


async def apply_to_every_run(files: FileStore, retention: Retention) -> None:
    """Apply `retention` to every run, as the server's sweep does: a policy set since a
    run's last round applies to it too."""
    if retention.keep_last is None:
        return
    async for run in TrainingRun.find({}).sort("_id"):
        await apply_retention(files, retention, run)
