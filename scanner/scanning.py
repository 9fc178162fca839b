"""How a repository scans its files: the operator's allowlists and each scan's CPU budget."""

from dataclasses import dataclass, field

from flrepo.scanner.allowlists import Allowlist, Allowlists
from flrepo.scanner.budget import Budget


@dataclass(frozen=True)
class Scanning:
    """The settings every FileScanner of a repository is made with."""

    allowlists: Allowlists = field(default_factory=Allowlists)
    budget: Budget = field(default_factory=Budget)

    def allowlist(self, filename: str) -> Allowlist:
        """The allowlist for a stored file, by the kind its name starts with."""
        return self.allowlists.for_file(filename)
