"""Training runs and their rounds: what a run started from, and each round's outcome.

A run is keyed like the training result it produces (model name, version, training id). It
pins the files it started from by id and sha256; `pinned_files` lists their ids, so that one
indexed lookup tells whether a file must be kept (`FileStore.delete` skips such files).
"""

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from beanie import Document
from pydantic import AfterValidator, BaseModel, Field
from pymongo import ASCENDING, IndexModel

Direction = Literal["max", "min"]


def as_stored(when: datetime) -> datetime:
    """A time as MongoDB keeps it (milliseconds) and in UTC, as read back (naive) or not."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


Stamp = Annotated[datetime, AfterValidator(as_stored)]
RUN_KEY = [("model_name", ASCENDING), ("model_version", ASCENDING), ("training_id", ASCENDING)]


class Objective(BaseModel):
    """The metric a run is judged by, and whether higher or lower is better."""

    metric: str
    direction: Direction = "max"


class PinnedFile(BaseModel):
    """One file a run started from, as it was then: its GridFS id (revision) and sha256."""

    role: Literal["model", "strategy", "transformation"]
    name: str  # model "name/version", strategy name, or transformation id
    file_id: str
    sha256: str | None = None


class TrainingRun(Document):
    model_name: str
    model_version: str
    training_id: str
    strategy_name: str | None = None
    transformation_ids: list[str] = Field(default_factory=list)
    objective: Objective | None = None
    started_from: list[PinnedFile] = Field(default_factory=list)
    pinned_files: list[str] = Field(default_factory=list)
    started_at: Stamp
    started_by: str

    class Settings:
        name = "runs"
        indexes = [IndexModel(RUN_KEY, unique=True), IndexModel([("pinned_files", ASCENDING)])]


class Participant(BaseModel):
    """One client's part in a round: how many examples it trained on, its metrics, and the
    sha256 of the update it sent."""

    client_id: str
    num_examples: int
    metrics: dict[str, Any] | None = None
    update_sha256: str


class Round(Document):
    model_name: str
    model_version: str
    training_id: str
    number: int
    metrics: dict[str, Any] | None = None
    participants: list[Participant] = Field(default_factory=list)
    weights_id: str | None = None  # null once retention deleted the weights
    weights_sha256: str
    weights_length: int
    aggregator_state_id: str | None = None
    aggregator_state_sha256: str | None = None
    recorded_at: Stamp
    recorded_by: str
    FILE_FIELD: ClassVar[str] = "weights_id"

    class Settings:
        name = "rounds"
        indexes = [IndexModel([*RUN_KEY, ("number", ASCENDING)], unique=True)]
