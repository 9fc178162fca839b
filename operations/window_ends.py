"""Where the furthest window read lately from the beginning of a walk ended, to bound the
next reads of that walk.

A walk is one index range read in sort order (a list's filter and order, a list of files,
a ranking); `read_in_time_order` reads the walks in time order (lists, files). The
embedded database reads every key of a range before it applies a limit, so a first page
costs as much as the whole range; MongoDB reads only the window either way. Bounded by the
sort value of the last item of a window read before (`$lte`), a read of a window that lies
before that item examines only what lies before it.

A bounded read that finds the whole window has found the right one, whatever was written
since the end was kept: everything past the bound comes after all it found. One that finds
less (items deleted, or the window lies further) is read again without the bound. Kept in
process, a few bytes a walk: no shared state to go stale; after a restart the first read
of each walk is unbounded.
"""

import datetime as dt
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from flrepo.operations.cursors import EARLIEST

T = TypeVar("T")
MAX_WALKS = 1024  # walks whose end is kept, the least recently read dropped first
MAX_END = 2_000  # windows ending further in are not kept: their reads are long anyway
BEGINNING = object()  # a read from the walk's beginning


class WindowEnds:
    """Per walk: how many items the furthest window read lately from its beginning held, and
    the sort value of its last item."""

    def __init__(self) -> None:
        self.ends: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()

    def clear(self) -> None:
        self.ends.clear()

    async def read(
        self,
        walk: Hashable,
        read: Callable[[Any], Awaitable[list[T]]],
        count: int,
        last: Callable[[T], Any],
        *,
        start: Any = BEGINNING,
        skip: int = 0,
    ) -> list[T]:
        """`read(end)`: up to `count` items of `walk` (after `skip`, after the sort value
        `start`), none after the sort value `end` (None: no bound). `last`: an item's sort
        value, None when it cannot bound a read."""
        kept = self.ends.get(walk)
        found: list[T] = []
        if kept is not None and (start is BEGINNING or start < kept[1]):
            found = await read(kept[1])
        if len(found) < count:
            found = await read(None)
        if start is BEGINNING and found and len(found) == count:
            self._keep(walk, skip + count, last(found[-1]))
        return found

    def _keep(self, walk: Hashable, end: int, value: Any) -> None:
        """Keep where a window ended, unless a further one's end is kept (the bound that
        serves the third page also serves the first)."""
        kept = self.ends.get(walk)
        if value is None or end > MAX_END or (kept is not None and end < kept[0]):
            return
        self.ends[walk] = (end, value)
        self.ends.move_to_end(walk)
        if len(self.ends) > MAX_WALKS:
            self.ends.popitem(last=False)


def utc(time: Any) -> Any:
    """A stored time (naive, UTC) comparable with a cursor's (aware); else as it is."""
    return time.replace(tzinfo=dt.UTC) if isinstance(time, dt.datetime) else time


def bounded(parts: list[dict[str, Any]], field: str, end: Any) -> list[dict[str, Any]]:
    """`parts` (queries read in turn, as from cursors.after) read up to the time `end`.

    From the beginning: the items without a time in `field`, then the times up to `end`;
    a part with a range of times gets `end` as its upper bound.
    """
    if parts == [{}]:
        return [{field: None}, {field: {"$gte": EARLIEST, "$lte": end}}]
    out = []
    for part in parts:
        times = part.get(field)
        out.append({**part, field: {**times, "$lte": end}} if isinstance(times, dict) else part)
    return out


async def read_in_time_order(
    ends: WindowEnds,
    walk: Hashable | None,
    find: Callable[[dict[str, Any], int, int], Awaitable[list[T]]],
    when: Callable[[T], Any],
    field: str,
    parts: list[dict[str, Any]],
    skip: int,
    count: int,
) -> list[T]:
    """Items `skip` to `skip + count` of a walk in the order of the time `field`, then `_id`
    (items without a time first), from where `parts` (cursors.after) start; bounded by a
    kept end where `walk` names one (None: never). `find(part, skip, limit)` reads one part
    of the walk; `when` is an item's time."""

    async def read(end: Any) -> list[T]:
        if end is None:
            parts_read = parts
        elif skip:  # not bounded: the items without a time before it would be counted
            return []
        else:
            parts_read = bounded(parts, field, end)
        out: list[T] = []
        for part in parts_read:
            if len(out) == count:
                break
            out += await find(part, skip, count - len(out))  # skip: only from the beginning
        return out

    if walk is None:
        return await read(None)
    if parts == [{}]:
        start = BEGINNING
    else:  # a cursor's time; none (an item without a time) comes before every time
        time = parts[0][field]
        start = EARLIEST if time is None else utc(time)
    return await ends.read(walk, read, count, lambda item: utc(when(item)), start=start, skip=skip)
