"""A byte progress bar on the terminal (rich), for dumps and restores of large archives."""

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

# Below this, a restore or dump is over before a bar would help.
SHOW_FROM_BYTES = 16 * 1024 * 1024

Update = Callable[[int, int], None]


class _Bar:
    """Starts drawing on the first update whose total is large enough."""

    def __init__(self, description: str, console: Console):
        self.description = description
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            if total < SHOW_FROM_BYTES:
                return
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=total)
        assert self.task is not None
        self.progress.update(self.task, completed=done, total=total)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextlib.contextmanager
def byte_progress(description: str) -> Iterator[Update | None]:
    """An update(done, total) callback drawing on stderr, or None when stderr is no terminal."""
    console = Console(file=sys.stderr)
    if not console.is_terminal:
        yield None
        return
    bar = _Bar(description, console)
    try:
        yield bar
    finally:
        bar.stop()
