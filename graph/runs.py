"""GraphQL of training runs, their rounds and lineage, and model aliases."""

import enum
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import strawberry
from flrepo.documents import aliases as alias_documents
from flrepo.documents import runs as run_documents
from flrepo.graph.permissions import CanRead, reading_needs_read
from flrepo.graph.types import Info, Long, Model, StoredFile, TrainingResult, load_file, of
from flrepo.operations import aliases, results, runs
from flrepo.operations.validation import check_page
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON


@strawberry.enum(description="Whether a higher or a lower value of a metric is better")
class MetricDirection(enum.Enum):
    MAX = "max"
    MIN = "min"


@strawberry.type(description="The metric a run is judged by")
class Objective:
    metric: str
    direction: MetricDirection


@strawberry.input
class ObjectiveInput:
    metric: str
    direction: MetricDirection = MetricDirection.MAX


@strawberry.input(description="One client's part in a round")
class ParticipantInput:
    client_id: str
    num_examples: int
    update_sha256: str = strawberry.field(description="sha256 of the update it sent, in hex")
    metrics: JSON | None = None


@strawberry.type(description="One client's part in a round")
class Participant:
    client_id: str
    num_examples: Long
    metrics: JSON | None
    update_sha256: str


@strawberry.type(description="A file a run started from, pinned to its bytes at the time")
class PinnedFile:
    name: str = strawberry.field(description="model name/version, strategy name or transform id")
    revision: strawberry.ID = strawberry.field(description="The GridFS id of the file then")
    sha256: str | None
    file: StoredFile | None = strawberry.field(description="The pinned file (kept by the run)")


async def _pinned(info: Info, pin: run_documents.PinnedFile) -> PinnedFile:
    file = await load_file(info, pin.file_id)
    return PinnedFile(
        name=pin.name, revision=strawberry.ID(pin.file_id), sha256=pin.sha256, file=file
    )


@strawberry.type(description="The exact files a run started from")
class StartedFrom:
    model: PinnedFile | None
    strategy: PinnedFile | None
    pinned_transformations: strawberry.Private[list[PinnedFile]]

    @strawberry.field(description="The transformation files, in the order the run named them")
    def transformations(self, limit: int | None = 100, offset: int | None = 0) -> list[PinnedFile]:
        start = offset or 0
        return self.pinned_transformations[start : start + runs_page(limit)]


@strawberry.type(description="One round of a training run")
class Round:
    model_name: str
    model_version: str
    training_id: str
    number: int
    metrics: JSON | None
    weights_sha256: str
    weights_length: Long
    aggregator_state_sha256: str | None
    recorded_at: datetime
    recorded_by: str
    weights_id: strawberry.Private[str | None]
    aggregator_state_id: strawberry.Private[str | None]
    all_participants: strawberry.Private[list[run_documents.Participant]]

    @classmethod
    def of(cls, doc: run_documents.Round) -> "Round":
        fields = doc.model_dump(exclude={"id", "participants", "revision_id"})
        return cls(**fields, all_participants=doc.participants)

    @strawberry.field(
        description="The global weights after the round; null once retention deleted them"
    )
    async def weights(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.weights_id)

    @strawberry.field(description="The aggregator's state after the round, if it sent one")
    async def aggregator_state(self, info: Info) -> StoredFile | None:
        return await load_file(info, self.aggregator_state_id)

    @strawberry.field(description="The clients of the round, in the order recorded")
    def participants(self, limit: int | None = 100, offset: int | None = 0) -> list[Participant]:
        start, count = offset or 0, runs_page(limit)
        check_page(count, start)
        return [Participant(**p.model_dump()) for p in self.all_participants[start:][:count]]

    @strawberry.field(description="How many clients took part")
    def participant_count(self) -> int:
        return len(self.all_participants)


def runs_page(limit: int | None) -> int:
    return 100 if limit is None else limit


@strawberry.type(description="A training run: its rounds and the exact files it started from")
class TrainingRun:
    model_name: str
    model_version: str
    training_id: str
    strategy_name: str | None
    transformation_ids: list[str]
    objective: Objective | None
    started_at: datetime
    started_by: str
    pins: strawberry.Private[list[run_documents.PinnedFile]]

    @classmethod
    def of(cls, doc: run_documents.TrainingRun) -> "TrainingRun":
        goal = doc.objective
        return cls(
            model_name=doc.model_name,
            model_version=doc.model_version,
            training_id=doc.training_id,
            strategy_name=doc.strategy_name,
            transformation_ids=doc.transformation_ids,
            objective=Objective(metric=goal.metric, direction=MetricDirection(goal.direction))
            if goal
            else None,
            started_at=doc.started_at,
            started_by=doc.started_by,
            pins=doc.started_from,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model_name, self.model_version, self.training_id)

    @strawberry.field(description="The model, strategy and transformation files it started from")
    async def started_from(self, info: Info) -> StartedFrom:
        pins = [await _pinned(info, pin) for pin in self.pins]
        roles = [pin.role for pin in self.pins]
        of_role = {
            role: [p for p, r in zip(pins, roles, strict=True) if r == role] for role in roles
        }
        return StartedFrom(
            model=next(iter(of_role.get("model", [])), None),
            strategy=next(iter(of_role.get("strategy", [])), None),
            pinned_transformations=of_role.get("transformation", []),
        )

    @strawberry.field(description="Rounds by number")
    async def rounds(self, limit: int | None = 100, offset: int | None = 0) -> list[Round]:
        found = await runs.list_rounds(*self.key, runs_page(limit), offset or 0)
        return [Round.of(doc) for doc in found]

    @strawberry.field(description="The last round (derived: `latest`)")
    async def latest_round(self) -> Round | None:
        doc = await runs.latest_round(*self.key)
        return Round.of(doc) if doc else None

    @strawberry.field(
        description="The round with the best value of a metric (derived: `best`); by default "
        "the run's objective"
    )
    async def best_round(
        self, metric: str | None = None, direction: MetricDirection | None = None
    ) -> Round | None:
        goal = self.objective
        metric = metric or (goal.metric if goal else None)
        if metric is None:
            return None
        chosen = direction or (goal.direction if goal else MetricDirection.MAX)
        doc = await runs.best_round(*self.key, metric, chosen.value)
        return Round.of(doc) if doc else None

    @strawberry.field(description="What a restarted aggregator resumes from: the last round")
    async def latest_checkpoint(self) -> Round | None:
        return await self.latest_round()

    @strawberry.field(description="The training result of the run, if one was created")
    async def training_result(self) -> TrainingResult | None:
        doc = await results.get_result(*self.key)
        return of(TrainingResult, doc) if doc else None


@strawberry.type(description="A named version of a model")
class ModelAlias:
    model_name: str
    alias: str
    model_version: str
    moved_at: datetime
    moved_by: str

    @classmethod
    def of(cls, doc: alias_documents.ModelAlias) -> "ModelAlias":
        return cls(**doc.model_dump(exclude={"id", "revision_id"}))

    @strawberry.field
    async def model(self, info: Info) -> Model | None:
        doc = await info.context.loaders.model.load((self.model_name, self.model_version))
        return of(Model, doc) if doc else None


@strawberry.type(description="One move of a model alias")
class AliasMove:
    model_name: str
    alias: str
    from_version: str | None = strawberry.field(description="Null when the alias was new")
    to_version: str
    moved_at: datetime
    moved_by: str

    @classmethod
    def of(cls, doc: alias_documents.AliasMove) -> "AliasMove":
        return cls(**doc.model_dump(exclude={"id", "revision_id"}))


def _objective(given: ObjectiveInput | None) -> run_documents.Objective | None:
    if given is None:
        return None
    return run_documents.Objective(metric=given.metric, direction=given.direction.value)


@strawberry.type
class RunQuery:
    @strawberry.field(description="One training run; null when absent")
    async def training_run(
        self, model_name: str, model_version: str, training_id: str
    ) -> TrainingRun | None:
        doc = await runs.get_run(model_name, model_version, training_id)
        return TrainingRun.of(doc) if doc else None

    @strawberry.field(description="The last round of a run, to resume from; null if none")
    async def latest_checkpoint(
        self, model_name: str, model_version: str, training_id: str
    ) -> Round | None:
        doc = await runs.latest_round(model_name, model_version, training_id)
        return Round.of(doc) if doc else None

    @strawberry.field(description="A model's aliases by name")
    async def model_aliases(self, model_name: str) -> list[ModelAlias]:
        return [ModelAlias.of(doc) for doc in await aliases.list_aliases(model_name)]

    @strawberry.field(description="The version an alias names; null when unset")
    async def model_alias(self, model_name: str, alias: str) -> ModelAlias | None:
        doc = await aliases.get_alias(model_name, alias)
        return ModelAlias.of(doc) if doc else None

    @strawberry.field(description="Moves of a model's aliases (of one, if given), newest first")
    async def alias_history(
        self,
        model_name: str,
        alias: str | None = None,
        limit: int | None = 100,
        offset: int | None = 0,
    ) -> list[AliasMove]:
        moves = await aliases.alias_history(model_name, alias, runs_page(limit), offset or 0)
        return [AliasMove.of(doc) for doc in moves]


SHA256 = Annotated[
    str | None,
    strawberry.argument(
        description="The weights' sha256 in hex, if known: other bytes are refused"
    ),
]


@strawberry.type
class RunMutation:
    @strawberry.mutation(
        description="Start a run, pinning the model, strategy and transformation files as they "
        "are now; again with the same inputs answers the run"
    )
    async def start_training_run(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        training_id: str,
        strategy_name: str | None = None,
        transformation_ids: list[str] | None = None,
        objective: ObjectiveInput | None = None,
    ) -> TrainingRun:
        doc = await runs.start_run(
            info.context.files,
            model_name,
            model_version,
            training_id,
            strategy_name,
            transformation_ids,
            _objective(objective),
        )
        return TrainingRun.of(doc)

    @strawberry.mutation(
        description="Record a round (files in the order: weights, then aggregatorState); again "
        "with the same content answers the stored round, with other content fails (CONFLICT)"
    )
    async def record_round(
        self,
        info: Info,
        model_name: str,
        model_version: str,
        training_id: str,
        number: int,
        weights: Upload,
        metrics: JSON | None = None,
        participants: list[ParticipantInput] | None = None,
        aggregator_state: Upload | None = None,
        weights_sha256: SHA256 = None,
    ) -> Round:
        given = [
            {
                "client_id": p.client_id,
                "num_examples": p.num_examples,
                "metrics": p.metrics,
                "update_sha256": p.update_sha256,
            }
            for p in participants or []
        ]
        doc = await runs.record_round(
            info.context.files,
            info.context.runs,
            model_name,
            model_version,
            training_id,
            number,
            metrics,
            given if participants is not None else None,
            weights,
            aggregator_state,
            weights_sha256,
        )
        return Round.of(doc)

    @strawberry.mutation(description="Delete a run and its rounds; the files it pinned are freed")
    async def delete_training_run(
        self, info: Info, model_name: str, model_version: str, training_id: str
    ) -> bool:
        return await runs.delete_run(info.context.files, model_name, model_version, training_id)

    @strawberry.mutation(
        description="Point a model alias at a version; protected aliases need the promote scope"
    )
    async def move_alias(
        self, info: Info, model_name: str, alias: str, model_version: str
    ) -> ModelAlias:
        doc = await aliases.move_alias(
            info.context.files,
            info.context.runs.protected_aliases,
            model_name,
            alias,
            model_version,
        )
        return ModelAlias.of(doc)


@strawberry.type
class RunSubscription:
    @strawberry.subscription(
        description="Rounds as they are recorded", permission_classes=[CanRead]
    )
    async def round_recorded(
        self,
        info: Info,
        model_name: str | None = None,
        model_version: str | None = None,
        training_id: str | None = None,
    ) -> AsyncIterator[Round]:
        feed = info.context.feed
        assert feed is not None, "the change feed runs in the app's lifespan"
        async for doc in runs.rounds_recorded(feed, model_name, model_version, training_id):
            yield Round.of(doc)

    @strawberry.subscription(description="Model aliases as they move", permission_classes=[CanRead])
    async def alias_moved(
        self, info: Info, model_name: str | None = None
    ) -> AsyncIterator[AliasMove]:
        feed = info.context.feed
        assert feed is not None, "the change feed runs in the app's lifespan"
        async for doc in aliases.aliases_moved(feed, model_name):
            yield AliasMove.of(doc)


async def runs_of_model(
    model_name: str, model_version: str, limit: int, offset: int
) -> list[TrainingRun]:
    found = await runs.runs_of_model(model_name, model_version, limit, offset)
    return [TrainingRun.of(doc) for doc in found]


async def last_round_of(model_name: str, model_version: str, training_id: str) -> Round | None:
    doc = await runs.latest_round(model_name, model_version, training_id)
    return Round.of(doc) if doc else None


# A write-only caller sees of what it wrote only the keys it sent (graph.permissions).
reading_needs_read(TrainingRun, ("model_name", "model_version", "training_id"))
reading_needs_read(Round, ("model_name", "model_version", "training_id", "number"))
reading_needs_read(ModelAlias, ("model_name", "alias", "model_version"))
