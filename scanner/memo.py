"""The unpickler's memo as the opcode walk models it: keys exactly, strings within a bound.

`_pickle` writes a memo value at the key PUT names, or, for MEMOIZE, at the number of
distinct keys written so far (`len(memo)`), whatever order earlier keys came in. The model
counts keys the same way (a dense run 0..n-1 plus a bounded set of keys above it) and
keeps the strings written, least recently used dropped first past MAX_MEMO_BYTES.
"""

from typing import Any

from flrepo.scanner.limits import MAX_MEMO_BYTES, MAX_MEMO_SPARSE

MEMO_COST = 96  # bytes one kept string costs beyond its characters, roughly
LOST = object()  # a value the model did not keep: it may have been a string
UNKNOWN_VALUE = object()  # a value written that is no string


class MemoModel:
    """One unpickler's memo: which keys are written, and the strings at them."""

    def __init__(self) -> None:
        self.strings: dict[int, str] = {}  # least recently used first
        self.nbytes = 0
        self.full = False  # some strings written are no longer kept
        self.dense = 0  # keys 0..dense-1 are all written
        self.sparse: set[int] = set()  # keys written above `dense`
        self.lost: str | None = None  # why the key count is no longer known

    @property
    def written(self) -> bool:
        return bool(self.dense or self.sparse or self.lost)

    def next_key(self) -> int | None:
        """The key MEMOIZE writes at: `len(memo)`; None once the count is lost."""
        return None if self.lost else self.dense + len(self.sparse)

    def write(self, key: int | None, value: Any) -> None:
        """Write `value` (a str, LOST, or anything else) at `key` (None: unknown)."""
        if key is None:
            self.lose("a memo key the walk could not read")
            return
        self._count(key)
        old = self.strings.pop(key, None)
        if old is not None:
            self.nbytes -= MEMO_COST + len(old)
        if type(value) is str:
            self.strings[key] = value
            self.nbytes += MEMO_COST + len(value)
            while self.nbytes > MAX_MEMO_BYTES:
                self.full = True
                self.nbytes -= MEMO_COST + len(self.strings.pop(next(iter(self.strings))))
        elif value is LOST:
            self.full = True

    def read(self, key: int | None) -> Any:
        """The value at `key`: its str, LOST, or UNKNOWN_VALUE for anything else."""
        if key is None or self.lost:
            return LOST
        value = self.strings.pop(key, None)
        if value is not None:
            self.strings[key] = value  # used again: kept longest
            return value
        return LOST if self.full else UNKNOWN_VALUE

    def lose(self, why: str) -> None:
        self.lost = self.lost or why
        self.strings.clear()
        self.sparse.clear()
        self.nbytes = 0

    def _count(self, key: int) -> None:
        if key < self.dense or key in self.sparse:
            return
        if key == self.dense:
            self.dense += 1
            while self.sparse and self.dense in self.sparse:
                self.sparse.discard(self.dense)
                self.dense += 1
        elif len(self.sparse) < MAX_MEMO_SPARSE:
            self.sparse.add(key)
        else:
            self.lose(f"more than {MAX_MEMO_SPARSE} memo keys written out of order")
