"""Pickles written opcode by opcode from a tree of values, and a loader that only records.

The writer covers what Python's pickler writes (protocols 0-5, framing, memoised strings
fetched back) and what it never writes but `_pickle` reads (memo keys out of order and
overwritten, MEMOIZE after them, POP taking a MARK), so that the scanner's models meet the
unpickler's rules rather than the pickler's habits. `imports_seen` loads a pickle with
`find_class` overridden to record each import and return a harmless stand-in: nothing named
in a pickle is ever imported or called.
"""

import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Imports a generated pickle may name: innocuous, unknown and dangerous ones.
GLOBALS = [
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("mylib.agg", "FedThing"),
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("subprocess", "Popen"),
]
WORDS = ["os", "system", "posix", "builtins", "eval", "set", "collections", "OrderedDict", "x"]


@dataclass(frozen=True)
class Call:
    """module.name(*args), written as a global, an argument tuple and REDUCE."""

    module: str
    name: str
    args: tuple[Any, ...] = ()


class StandIn:
    """What every import of a recorded load is: calling it does nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass


def imports_seen(data: bytes) -> list[str]:
    """The imports `pickle.load` makes loading `data` (every pickle in it), as module.name."""
    seen: list[str] = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            seen.append(f"{module}.{name}")
            return StandIn

        def persistent_load(self, pid: Any) -> Any:
            return None

    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        Recording(stream).load()
    return seen


@dataclass
class Writer:
    """Writes values as opcodes; `choose(n)` picks among n ways (0 is the pickler's way)."""

    protocol: int
    choose: Callable[[int], int]
    out: bytearray = field(default_factory=bytearray)
    memo: dict[int, Any] = field(default_factory=dict)  # what each key holds, as written

    def pickle(self, value: Any) -> bytes:
        self.value(value)
        body = bytes(self.out) + b"."
        head = bytes([0x80, self.protocol]) if self.protocol >= 2 else b""
        if self.protocol >= 4 and self.choose(2) == 0:
            head += b"\x95" + struct.pack("<Q", len(body))
        return head + body

    # values

    def value(self, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            self.op({None: b"N", True: b"\x88", False: b"\x89"}[value] if self.protocol >= 2
                    else {None: b"N", True: b"I01\n", False: b"I00\n"}[value])  # fmt: skip
        elif isinstance(value, int):
            self.integer(value)
        elif isinstance(value, str):
            self.string(value)
        elif isinstance(value, Call):
            self.call(value)
        elif isinstance(value, list):
            self.sequence(value, b"]" if self.protocol else None, b"l", b"e")
        elif isinstance(value, tuple):
            self.tuple(value)
        elif isinstance(value, dict):
            self.mapping(value)
        else:
            raise TypeError(value)
        self.noise()

    def op(self, code: bytes) -> None:
        self.out += code

    def integer(self, n: int) -> None:
        if self.protocol == 0 or not -(2**31) <= n < 2**31:
            self.op(b"I%d\n" % n)
        elif 0 <= n < 256:
            self.op(b"K" + bytes([n]))
        else:
            self.op(b"J" + struct.pack("<i", n))

    def string(self, text: str) -> None:
        key = self.memoised(text)
        if key is not None and self.choose(3) != 2:
            self.get(key)
            return
        data = text.encode()
        if self.protocol == 0:
            if self.choose(2):
                self.op(b"S'" + data + b"'\n")
            else:
                self.op(b"V" + text.encode("raw-unicode-escape") + b"\n")
        elif self.protocol < 4 or self.choose(3) == 1:
            self.op(b"X" + struct.pack("<I", len(data)) + data)
        elif self.choose(4) == 3:
            self.op(b"\x8d" + struct.pack("<Q", len(data)) + data)
        else:
            self.op(b"\x8c" + bytes([len(data)]) + data)
        self.memoise(text)

    def call(self, call: Call) -> None:
        if self.protocol < 4:
            self.op(f"c{call.module}\n{call.name}\n".encode())
        else:
            self.string(call.module)
            self.string(call.name)
            self.op(b"\x93")
        self.memoise(None)
        self.tuple(call.args)
        self.op(b"R")
        self.memoise(None)

    def tuple(self, items: tuple[Any, ...]) -> None:
        if not items and self.protocol:
            self.op(b")")
        elif len(items) <= 3 and self.protocol >= 2:
            for item in items:
                self.value(item)
            self.op(b"\x85\x86\x87"[len(items) - 1 : len(items)])
        else:
            self.op(b"(")
            for item in items:
                self.value(item)
            self.op(b"t")
        self.memoise(None)

    def sequence(self, items: list[Any], empty: bytes | None, whole: bytes, more: bytes) -> None:
        if empty is None:
            self.op(b"(")
            for item in items:
                self.value(item)
            self.op(whole)
            self.memoise(None)
            return
        self.op(empty)
        self.memoise(None)
        if items:
            self.op(b"(")
            for item in items:
                self.value(item)
            self.op(more)

    def mapping(self, items: dict[Any, Any]) -> None:
        self.op(b"}" if self.protocol else b"(d")
        self.memoise(None)
        for key, value in items.items():
            self.value(key)
            self.value(value)
            self.op(b"s")

    def noise(self) -> None:
        """Opcodes with no net effect that the pickler never writes but `_pickle` reads."""
        way = self.choose(6)
        if way == 1:
            self.op(b"20")  # DUP, POP
        elif way == 2:
            self.op(b"(0")  # MARK, then POP takes the MARK away
        elif way == 3:
            self.op(b"(N1")  # MARK, None, POP_MARK
        elif way == 4:
            self.op(b"N0" * (1 + self.choose(40)))  # runs of cheap pushes and pops

    # the memo

    def memoise(self, value: Any) -> None:
        """Memoise the top of the stack (a str: `value`) the way the choices say, or not."""
        way = self.choose(5)
        if way == 4:
            return
        if self.protocol >= 4 and way < 2:
            key = len(self.memo)
            self.op(b"\x94")
        else:
            key = len(self.memo) if way in (0, 1) else self.choose(300)
            if self.protocol == 0:
                self.op(b"p%d\n" % key)
            elif key < 256 and way != 3:
                self.op(b"q" + bytes([key]))
            else:
                self.op(b"r" + struct.pack("<I", key))
        self.memo[key] = value

    def memoised(self, text: str) -> int | None:
        keys = [key for key, value in self.memo.items() if value == text]
        return keys[self.choose(len(keys))] if keys else None

    def get(self, key: int) -> None:
        if self.protocol == 0:
            self.op(b"g%d\n" % key)
        elif key < 256 and self.choose(2) == 0:
            self.op(b"h" + bytes([key]))
        else:
            self.op(b"j" + struct.pack("<I", key))
