"""The walk over NumPy's `.npy` files: an array of objects is a pickle after the header.

`numpy.load(allow_pickle=True)` unpickles the data of an array whose dtype holds objects;
any other array's data are raw numbers, which no loader reads as a pickle. The header is a
Python literal, read here as NumPy reads it (`ast.literal_eval`), from at most MAX_HEADER
bytes.
"""

import ast
import re
from collections.abc import Callable
from typing import Any

from flrepo.scanner.limits import MAX_HEADER
from flrepo.scanner.report import Walker, WalkReport

MAGIC = b"\x93NUMPY"
KEYS = {"descr", "fortran_order", "shape"}
# The dtypes of numbers, booleans, text and raw bytes, as `descr` spells them; and objects.
PLAIN = re.compile(r"[<>|=]?(?:[biufc]\d+|[SUV]\d+|[mM]8(?:\[\w+\])?|\?|b1)")
OBJECT = re.compile(r"[<>|=]?O\d*")


def holds_objects(descr: Any) -> bool | None:
    """Whether an array of this `descr` holds objects: True, False, or None if unknown."""
    if isinstance(descr, str):
        if OBJECT.fullmatch(descr):
            return True
        return False if PLAIN.fullmatch(descr) else None
    if not isinstance(descr, list) or not descr:
        return None
    verdicts = []
    for entry in descr:
        if not isinstance(entry, tuple) or len(entry) not in (2, 3):
            return None
        verdicts.append(holds_objects(entry[1]))
    if any(v is True for v in verdicts):
        return True
    return None if any(v is None for v in verdicts) else False


class NpyWalker:
    """Reads an `.npy` header, then walks the data as a pickle if the array holds objects."""

    def __init__(self, pickle_walker: Callable[[], Walker]) -> None:
        self.pickle_walker = pickle_walker
        self.head = b""
        self.data: Walker | None = None
        self.found = WalkReport()
        self.done = False

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        if self.data is not None:
            self.data.feed(chunk)
            self.done = self.data.done
            return
        self.head += bytes(chunk)
        if len(self.head) < 12:
            return
        major = self.head[6]
        size_bytes = 2 if major == 1 else 4
        start = 8 + size_bytes
        length = int.from_bytes(self.head[8:start], "little")
        if major not in (1, 2, 3) or length > MAX_HEADER:
            self._give_up(f"a NumPy header of version {major} and {length} bytes")
            return
        if len(self.head) < start + length:
            return
        header, rest = self.head[start : start + length], self.head[start + length :]
        self.head = b""
        objects = self._objects(header.decode("utf-8" if major == 3 else "latin-1", "replace"))
        if objects is False:
            self.done = True  # raw numbers: no loader reads them as a pickle
            return
        self.data = self.pickle_walker()
        self.data.feed(rest)
        self.done = self.data.done

    def _objects(self, header: str) -> bool | None:
        try:
            fields = ast.literal_eval(header)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            fields = None
        if not isinstance(fields, dict) or set(fields) != KEYS:
            self.found.note(
                "a NumPy header the scanner cannot read; the data were read as a pickle"
            )
            return None
        objects = holds_objects(fields["descr"])
        if objects is None:
            self.found.note(
                f"a NumPy dtype the scanner does not know ({str(fields['descr'])[:80]}); "
                "the data were read as a pickle"
            )
        return objects

    def _give_up(self, what: str) -> None:
        self.found.note(f"{what} was not followed")
        self.done = True

    def finish(self) -> WalkReport:
        if self.data is None and self.head and not self.done:
            self.found.note("the file ends inside a NumPy header")
        if self.data is not None:
            self.found.merge(self.data.finish())
        return self.found
