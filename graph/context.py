"""What every GraphQL resolver can reach: the file store and this request's loaders."""

from dataclasses import dataclass, field

from flrepo.documents.files import FileStore
from flrepo.graph.cost import Limits
from flrepo.graph.loaders import Loaders


@dataclass
class Context:
    files: FileStore
    root_path: str = ""  # where the server is mounted, for download URLs
    limits: Limits = field(default_factory=Limits)
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.files)
