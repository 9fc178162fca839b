"""At most one line a second of any repeated warning, with a count of those left out.

A server out of file descriptors (or under a flood of bad requests) logs the same warning or
error thousands of times a second; this filter, on the log handler so that it sees every
logger's records (uvicorn's and asyncio's included), lets one through per `every_s` and
names how many like it it held back.
"""

import logging
import time

MAX_KINDS = 1000  # different messages tracked at once


class RepeatFilter(logging.Filter):
    """Warnings and errors of the same logger and message template: one per `every_s`."""

    def __init__(self, every_s: float = 1.0, level: int = logging.WARNING) -> None:
        super().__init__()
        self.every_s = every_s
        self.level = level
        self.seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # -> (last shown, held)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        last = self.seen.get(key)
        if last is not None and now - last[0] < self.every_s:
            self.seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            since = now - last[0]
            record.msg = f"{record.msg} ({last[1]} more like this in the last {since:.0f} s)"
        self.seen.pop(key, None)
        if len(self.seen) >= MAX_KINDS:
            del self.seen[next(iter(self.seen))]
        self.seen[key] = (now, 0)
        return True
