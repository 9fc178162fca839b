"""Commands the server sends, caught as it sends them (a PyMongo command listener)."""

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pymongo import monitoring

Keep = Callable[[monitoring.CommandStartedEvent], Any]  # what to keep of a command, or None


class Commands(monitoring.CommandListener):
    """What `keep` makes of each command sent to the watched databases."""

    def __init__(self) -> None:
        self.databases: set[str] = set()
        self.keep: Keep = lambda event: None
        self.kept: list[Any] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name in self.databases and (item := self.keep(event)) is not None:
            self.kept.append(item)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_commands = Commands()
monitoring.register(_commands)  # at import: a listener reaches only clients made after it


@contextlib.contextmanager
def watching(databases: Iterable[str], keep: Keep) -> Iterator[list[Any]]:
    """What `keep` makes of the commands sent to `databases` meanwhile (a list it grows).

    PyMongo cannot unregister a listener: one serves the session, told what to watch.
    """
    _commands.databases, _commands.keep, _commands.kept = set(databases), keep, []
    try:
        yield _commands.kept
    finally:
        _commands.databases = set()
