"""Training runs: starting one pinned to the exact files it uses, recording its rounds
(idempotently), reading them back, resuming from the last one, and round retention."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from beanie import Document
from flrepo.documents.changes import ChangeFeed, ChangeKind
from flrepo.documents.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from flrepo.documents.files import FileSource, FileStore, StoredFile
from flrepo.documents.ml_model import MLModel
from flrepo.documents.runs import Direction, Objective, Participant, PinnedFile, Round, TrainingRun
from flrepo.documents.strategy import Strategy
from flrepo.documents.transformation import Transformation
from flrepo.operations import events
from flrepo.operations.access import check, requires
from flrepo.operations.common import check_fields, insert_new
from flrepo.operations.models import model_key
from flrepo.operations.results import check_metric, result_key
from flrepo.operations.retention import Retention, apply_retention, best_of
from flrepo.operations.strategies import strategy_key
from flrepo.operations.transformations import transformation_key
from flrepo.operations.validation import (
    check_name,
    check_object,
    check_page,
    check_sha256,
    clean_uploaded_name,
)

MAX_ROUND = 1_000_000_000
MAX_PARTICIPANTS = 10_000
MAX_TRANSFORMATIONS = 100
MAX_RUNS_LISTED = 100
# A file source, or a function that finds the next file in the request (REST's optional
# aggregator state, whose presence is known only once the weights before it were read).
LaterFile = Callable[[], Awaitable[FileSource | None]]
ROUNDS = Round.Settings.name


@dataclass(frozen=True)
class RunPolicy:
    """The server's settings for runs and aliases (FLREPO_PROTECTED_ALIASES, _ROUND_RETENTION)."""

    protected_aliases: frozenset[str] = frozenset({"production"})
    retention: Retention = field(default_factory=Retention)


def run_key(model_name: str, model_version: str, training_id: str) -> dict[str, str]:
    return result_key(model_name, model_version, training_id)


def _what(key: dict[str, str]) -> str:
    return (
        f"training run {key['training_id']!r} of model {key['model_name']!r} "
        f"version {key['model_version']!r}"
    )


def check_objective(objective: Objective | None) -> Objective | None:
    if objective is not None:
        check_metric(objective.metric)
    return objective


async def _pin(files: FileStore, role: str, name: str, doc: Document | None) -> PinnedFile | None:
    """The file `doc` points at now, as a pin; NotFound if `doc` is absent."""
    if doc is None:
        raise NotFound(f"{role} {name!r} does not exist")
    record = await files.get(getattr(doc, doc.FILE_FIELD))  # type: ignore[attr-defined]
    if record is None:
        return None
    return PinnedFile(role=role, name=name, file_id=record.id, sha256=record.sha256)  # type: ignore[arg-type]


async def _pins(
    files: FileStore, key: dict[str, str], strategy: str | None, transformations: list[str]
) -> list[PinnedFile]:
    model = await MLModel.find_one(model_key(key["model_name"], key["model_version"]))
    name = f"{key['model_name']}/{key['model_version']}"
    found: list[PinnedFile | None] = [await _pin(files, "model", name, model)]
    if strategy is not None:
        doc = await Strategy.find_one(strategy_key(strategy))
        found.append(await _pin(files, "strategy", strategy, doc))
    for tid in transformations:
        doc = await Transformation.find_one(transformation_key(tid))
        found.append(await _pin(files, "transformation", tid, doc))
    return [pin for pin in found if pin is not None]


def _same_start(run: TrainingRun, other: TrainingRun) -> bool:
    fields = ("strategy_name", "transformation_ids", "objective")
    return all(getattr(run, f) == getattr(other, f) for f in fields)


@requires("write")
async def start_run(
    files: FileStore,
    model_name: str,
    model_version: str,
    training_id: str,
    strategy_name: str | None = None,
    transformation_ids: list[str] | None = None,
    objective: Objective | None = None,
) -> TrainingRun:
    """Start a run, pinning the model, strategy and transformation files as they are now.

    Starting the same run again with the same inputs answers the run (a restarted
    aggregator may); with others it is a Conflict.
    """
    key = run_key(model_name, model_version, training_id)
    tids = [check_name(t, "transformation id") for t in transformation_ids or []]
    if len(tids) > MAX_TRANSFORMATIONS:
        raise InvalidInput(f"a run uses at most {MAX_TRANSFORMATIONS} transformations")
    run = TrainingRun(
        **key,
        strategy_name=None if strategy_name is None else check_name(strategy_name, "strategy name"),
        transformation_ids=tids,
        objective=check_objective(objective),
        started_at=datetime.now(UTC),
        started_by=check("write").name,
    )
    for _ in range(3):
        run.started_from = await _pins(files, key, run.strategy_name, tids)
        run.pinned_files = [pin.file_id for pin in run.started_from]
        try:
            await insert_new(run, _what(key))
        except AlreadyExists:
            existing = await TrainingRun.find_one(key)
            if existing is None or not _same_start(existing, run):
                raise Conflict(f"{_what(key)} was already started with other inputs") from None
            return existing
        # The pins keep the files from now on; one replaced meanwhile may be gone already.
        if len(await files.get_many(run.pinned_files)) == len(run.pinned_files):
            return run
        await run.delete()
        run.id = None
    raise Conflict(f"the files of {_what(key)} keep being replaced; start it again")


@requires("read")
async def get_run(model_name: str, model_version: str, training_id: str) -> TrainingRun | None:
    return await TrainingRun.find_one(run_key(model_name, model_version, training_id))


@requires("read")
async def runs_of_model(
    model_name: str, model_version: str, limit: int = MAX_RUNS_LISTED, offset: int = 0
) -> list[TrainingRun]:
    """The model version's runs, oldest first, a page of at most MAX_RUNS_LISTED."""
    query = model_key(model_name, model_version)
    limit = min(limit, MAX_RUNS_LISTED)
    return await TrainingRun.find(query).sort("_id").skip(offset).limit(limit).to_list()


def check_participants(participants: list[dict[str, Any]] | None) -> list[Participant]:
    if participants is None:
        return []
    if not isinstance(participants, list) or len(participants) > MAX_PARTICIPANTS:
        raise InvalidInput(f"participants must be a list of at most {MAX_PARTICIPANTS}")
    checked = []
    for given in participants:
        if not isinstance(given, dict):
            raise InvalidInput("each participant must be an object")
        examples = given.get("num_examples")
        if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
            raise InvalidInput("a participant's num_examples must be a whole number, at least 0")
        digest = given.get("update_sha256")
        if not isinstance(digest, str):
            raise InvalidInput("a participant's update_sha256 is required")
        checked.append(
            Participant(
                client_id=check_name(given.get("client_id"), "client id"),
                num_examples=examples,
                metrics=check_object(given.get("metrics"), "participant metrics"),
                update_sha256=check_sha256(digest) or "",
            )
        )
    return checked


def _content(doc: Round) -> tuple[Any, ...]:
    """What makes two recordings of a round the same."""
    return (
        doc.metrics,
        [p.model_dump() for p in doc.participants],
        doc.weights_sha256,
        doc.aggregator_state_sha256,
    )


async def _store(
    files: FileStore, name: str, source: FileSource, number: int, sha256: str | None = None
) -> StoredFile:
    """Store one file of a round through the upload pipeline (scanned like any upload)."""
    stored = await files.put(name, source, {"round": number}, sha256)
    return await files.set_uploaded_name(stored.id, clean_uploaded_name(source.filename)) or stored


@requires("write")
async def record_round(
    files: FileStore,
    policy: RunPolicy,
    model_name: str,
    model_version: str,
    training_id: str,
    number: int,
    metrics: dict[str, Any] | None,
    participants: list[dict[str, Any]] | None,
    weights: FileSource,
    aggregator_state: FileSource | LaterFile | None = None,
    weights_sha256: str | None = None,
) -> Round:
    """Record round `number` of a started run: its metrics, participants and files.

    Recording a round again with the same content answers the stored one; with other
    content it is a Conflict. Nothing is left of a refused recording. Older rounds may lose
    their weights afterwards, by the retention policy.
    """
    key = run_key(model_name, model_version, training_id)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_ROUND:
        raise InvalidInput(f"a round number is a whole number from 1 to {MAX_ROUND}")
    if weights_sha256 is not None and not isinstance(weights_sha256, str):
        raise InvalidInput("weights_sha256 must be 64 hexadecimal digits")
    new = Round(
        **key,
        number=number,
        metrics=check_object(metrics, "metrics"),
        participants=check_participants(participants),
        weights_sha256=check_sha256(weights_sha256) or "",
        weights_length=0,
        recorded_at=datetime.now(UTC),
        recorded_by=check("write").name,
    )
    check_fields(new.model_dump(exclude={"id"}), f"round {number}")  # before any upload
    run = await TrainingRun.find_one(key)
    if run is None:
        raise NotFound(f"{_what(key)} does not exist; start it first")
    where = f"rounds/{key['model_name']}/{key['model_version']}/{key['training_id']}/{number}"
    stored: list[StoredFile] = []
    try:
        expected = new.weights_sha256 or None
        weights_file = await _store(files, where + "/weights", weights, number, expected)
        stored.append(weights_file)
        new.weights_id, new.weights_length = weights_file.id, weights_file.length
        new.weights_sha256 = weights_file.sha256 or ""
        state = await aggregator_state() if callable(aggregator_state) else aggregator_state
        if state is not None:
            state_file = await _store(files, where + "/aggregator_state", state, number)
            stored.append(state_file)
            new.aggregator_state_id, new.aggregator_state_sha256 = state_file.id, state_file.sha256
        try:
            await insert_new(new, f"round {number} of {_what(key)}")
        except AlreadyExists:
            existing = await Round.find_one({**key, "number": number})
            if existing is None or _content(existing) != _content(new):
                raise Conflict(
                    f"round {number} of {_what(key)} is already recorded with other content"
                ) from None
            await _discard(files, stored)
            return existing
    except BaseException:
        await asyncio.shield(_discard(files, stored))
        raise
    await apply_retention(files, policy.retention, run)
    return new


async def _discard(files: FileStore, stored: list[StoredFile]) -> None:
    for record in stored:
        await files.delete(record.id)


@requires("read")
async def list_rounds(
    model_name: str, model_version: str, training_id: str, limit: int = 100, offset: int = 0
) -> list[Round]:
    """One page of a run's rounds, by number."""
    check_page(limit, offset)
    if offset > MAX_ROUND:
        raise InvalidInput(f"offset must be at most {MAX_ROUND}")
    key = run_key(model_name, model_version, training_id)
    return await Round.find(key).sort("number").skip(offset).limit(limit).to_list()


@requires("read")
async def get_round(
    model_name: str, model_version: str, training_id: str, number: int
) -> Round | None:
    return await Round.find_one(
        {**run_key(model_name, model_version, training_id), "number": number}
    )


@requires("read")
async def latest_round(model_name: str, model_version: str, training_id: str) -> Round | None:
    """The run's last round: the checkpoint a restarted aggregator resumes from."""
    key = run_key(model_name, model_version, training_id)
    return await Round.find(key).sort("-number").limit(1).first_or_none()


@requires("read")
async def best_round(
    model_name: str, model_version: str, training_id: str, metric: str, direction: Direction
) -> Round | None:
    """The round with the highest (`max`) or lowest (`min`) value of `metric`; the earliest
    of equals. Rounds without a number for it do not count."""
    key = run_key(model_name, model_version, training_id)
    if direction not in ("max", "min"):
        raise InvalidInput("direction is max or min")
    return await best_of(key, Objective(metric=check_metric(metric), direction=direction))


@requires("delete")
async def delete_run(
    files: FileStore, model_name: str, model_version: str, training_id: str
) -> bool:
    """Delete a run and its rounds with their files. The files it pinned are no longer kept
    for it: those nothing else refers to are removed by the orphan sweep."""
    key = run_key(model_name, model_version, training_id)
    run = await TrainingRun.find_one(key)
    if run is None:
        raise NotFound(f"{_what(key)} does not exist")
    while batch := await Round.find(key).limit(100).to_list():
        for old in batch:
            await old.delete()
            await files.delete(old.weights_id)
            await files.delete(old.aggregator_state_id)
    await run.delete()
    return True


async def rounds_recorded(
    feed: ChangeFeed, model_name: str | None, model_version: str | None, training_id: str | None
) -> AsyncIterator[Round]:
    """Rounds as they are recorded."""
    async for change in events.changes(
        feed, {ROUNDS}, model_name=model_name, model_version=model_version, training_id=training_id
    ):
        if change.kind is ChangeKind.CREATED:
            yield Round.model_validate(change.document)
