"""What a walk over a file's bytes reports, and what every walker offers."""

from dataclasses import dataclass, field
from typing import Protocol

from flrepo.scanner.limits import MAX_GLOBALS, MAX_NAME, MAX_NOTES
from flrepo.scanner.rules import UNKNOWN, classify


@dataclass
class WalkReport:
    """What a walk found: whether there was a pickle, the imports, what could not be followed."""

    pickle: bool = False
    globals: set[str] = field(default_factory=set)  # `module attribute`, or UNKNOWN
    notes: list[str] = field(default_factory=list)

    def add_global(self, module: str, attribute: str) -> None:
        name = f"{module[:MAX_NAME]} {attribute[:MAX_NAME]}"
        if len(self.globals) < MAX_GLOBALS:
            self.globals.add(name)
        elif name not in self.globals:
            self.note(f"more than {MAX_GLOBALS} distinct imports; the rest are not listed")
            if classify(name) == "dangerous":
                self.globals.add(name)

    def note(self, text: str) -> None:
        if text not in self.notes and len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def merge(self, other: "WalkReport", where: str) -> None:
        self.pickle |= other.pickle
        for name in other.globals:
            if name == UNKNOWN:
                self.globals.add(name)
            else:
                self.add_global(*name.split(" ", 1))
        for text in other.notes:
            self.note(f"{where}: {text}")


class Walker(Protocol):
    """Fed a stream's bytes in order; reports what they hold when they end."""

    @property
    def done(self) -> bool:
        """Nothing more that is fed can change the report."""
        ...

    def feed(self, chunk: bytes | memoryview) -> None: ...

    def finish(self) -> WalkReport: ...
