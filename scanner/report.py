"""What a walk over a file's bytes reports, and what every walker offers."""

from dataclasses import dataclass, field
from typing import Protocol

from flrepo.scanner.limits import MAX_GLOBAL_BYTES, MAX_GLOBALS, MAX_NAME, MAX_NOTES
from flrepo.scanner.rules import Name, classify_pair

DROPPED = "more distinct imports than are listed; only the dangerous ones are kept"


@dataclass
class WalkReport:
    """What a walk found: whether there was a pickle, the imports, what could not be followed."""

    pickle: bool = False
    globals: set[Name] = field(default_factory=set)  # (module, attribute), or UNKNOWN, ...
    notes: list[str] = field(default_factory=list)
    name_bytes: int = 0

    def add_global(self, module: str, attribute: str) -> None:
        name = (module[:MAX_NAME], attribute[:MAX_NAME])
        if name in self.globals:
            return
        size = len(name[0]) + len(name[1])
        if len(self.globals) < MAX_GLOBALS and self.name_bytes + size <= MAX_GLOBAL_BYTES:
            self.globals.add(name)
            self.name_bytes += size
            return
        self.note(DROPPED)
        if classify_pair(*name) == "dangerous" and not self.has_dangerous():
            self.globals.add(name)  # one is enough to say DANGEROUS; the list stays bounded

    def has_dangerous(self) -> bool:
        return any(classify_pair(*name) == "dangerous" for name in self.globals)

    def note(self, text: str) -> None:
        if text not in self.notes and len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def merge(self, other: "WalkReport", where: str | None = None) -> None:
        self.pickle |= other.pickle
        for name in other.globals:
            self.add_global(*name)
        for text in other.notes:
            self.note(f"{where}: {text}" if where else text)


class Walker(Protocol):
    """Fed a stream's bytes in order; reports what they hold when they end."""

    @property
    def done(self) -> bool:
        """Nothing more that is fed can change the report."""
        ...

    def feed(self, chunk: bytes | memoryview) -> None: ...

    def finish(self) -> WalkReport: ...
