"""What every GraphQL resolver can reach: file store, change feed, this request's loaders."""

from collections.abc import Callable
from dataclasses import dataclass, field

from flrepo.documents.changes import ChangeFeed
from flrepo.documents.files import FileStore
from flrepo.graph.loaders import Loaders
from flrepo.operations.runs import RunPolicy


@dataclass
class Context:
    files: FileStore
    root_path: str = ""  # where the server is mounted, for download URLs
    feed: ChangeFeed | None = None  # changes to subscribe to
    report: Callable[[str, str, bool], None] | None = None  # counts executed root fields
    refused: Callable[[int], None] | None = None  # told 401/403 of a mutation refused access
    runs: RunPolicy = field(default_factory=RunPolicy)  # protected aliases, round retention
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.files)
