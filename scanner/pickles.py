"""The opcode walk over plain pickles: the names they import, learnt without loading them.

Pickles of any protocol, several in a row, are walked opcode by opcode across chunk
boundaries with a small model of the unpickler's stack and memo, so that `STACK_GLOBAL`
learns the names it imports. Long arguments (the bytes of an array) are passed over, never
held. The walk is ours because `pickletools.genops` (and picklescan, which uses it) reads each
argument whole, and a file's bytes come in chunks.
"""

import pickletools
import re
from dataclasses import dataclass
from typing import Any

from flrepo.scanner.limits import MAX_LINE, MAX_MEMO, MAX_NAME, MAX_STACK
from flrepo.scanner.report import WalkReport
from flrepo.scanner.rules import UNKNOWN

HIGHEST_PROTOCOL = 5
# What an import names: identifiers, joined by dots.
NAME = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")

MARK = object()

FIXED, LINE, PAIR, COUNTED = range(4)
STRING_ARGS = {"unicodestring1", "unicodestring4", "unicodestring8", "string1", "string4"}


@dataclass(frozen=True)
class OpSpec:
    name: str
    kind: int  # FIXED, LINE, PAIR (two lines) or COUNTED
    size: int  # FIXED: argument bytes; COUNTED: bytes of the length field
    signed: bool  # COUNTED: the length field is signed
    pops: int  # values popped (below the mark, if `mark`)
    mark: bool  # pops back to the last MARK first
    pushes: int
    string: bool  # its argument is a str the unpickler pushes
    plain: bool  # no more than its stack effect matters


def _spec(op: pickletools.OpcodeInfo) -> OpSpec:
    arg = op.arg
    kind, size, signed = FIXED, 0, False
    if arg is not None:
        if arg.n >= 0:
            size = arg.n
        elif arg.n == pickletools.UP_TO_NEWLINE:
            kind = PAIR if arg.name == "stringnl_noescape_pair" else LINE
        else:
            kind = COUNTED
            size = {
                pickletools.TAKEN_FROM_ARGUMENT1: 1,
                pickletools.TAKEN_FROM_ARGUMENT4: 4,
                pickletools.TAKEN_FROM_ARGUMENT4U: 4,
                pickletools.TAKEN_FROM_ARGUMENT8U: 8,
            }[arg.n]
            signed = arg.n == pickletools.TAKEN_FROM_ARGUMENT4
    before = op.stack_before
    mark = pickletools.markobject in before
    pops = before.index(pickletools.markobject) if mark else len(before)
    string = arg is not None and arg.name in STRING_ARGS
    plain = op.name not in SPECIAL and not string
    return OpSpec(op.name, kind, size, signed, pops, mark, len(op.stack_after), string, plain)


# Opcodes that do more than push and pop values we do not model.
SPECIAL = {
    "PROTO", "GLOBAL", "INST", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4", "PUT", "BINPUT",
    "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET", "DUP", "MARK", "STOP",
    "STRING", "UNICODE",
}  # fmt: skip


SPECS: dict[int, OpSpec] = {ord(op.code): _spec(op) for op in pickletools.opcodes}


def _run(code: str) -> tuple[re.Pattern[bytes], int]:
    """A pattern matching repeats of an opcode that only pushes a value, and its width."""
    width = 1 + SPECS[ord(code)].size
    return re.compile(
        b"(?:" + re.escape(code.encode("latin-1")) + b".{%d})+" % (width - 1), re.S
    ), width


# The opcodes long pickles of numbers repeat: BINFLOAT, BININT1, BININT2, BININT, NONE.
RUNS = {ord(code): _run(code) for code in "GKMJN"}


class Malformed(Exception):
    """The bytes stop being a pickle here."""


class PickleWalker:
    """Walks pickle opcodes across chunk boundaries, holding at most one short argument."""

    def __init__(self) -> None:
        self.found = WalkReport()
        self.pending = b""
        self.skip = 0  # bytes of a long argument still to pass over
        self.skip_line = False  # passing over a long text argument up to its newline
        self.done = False
        self.offset = 0  # of `pending`'s first byte in the stream
        self.at = 0  # of the opcode being read, in the buffer being walked
        self._new_pickle()

    def _new_pickle(self) -> None:
        self.stack: list[Any] = []
        self.blind = False  # the stack outgrew MAX_STACK: STACK_GLOBAL names are unknown
        self.ops = 0  # in the current pickle
        self.globals_here = False
        self.memo: dict[int, str] = {}  # the memoised strings
        self.memo_len = 0  # keys 0..memo_len-1 are in use, plus `memo_extra`
        self.memo_extra: set[int] = set()

    # feeding

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        if self.skip:
            if len(chunk) <= self.skip:
                self.skip -= len(chunk)
                self.offset += len(chunk)
                return
            self.offset += self.skip
            chunk = chunk[self.skip :]
            self.skip = 0
        if self.skip_line:
            end = bytes(chunk).find(b"\n")
            if end < 0:
                self.offset += len(chunk)
                return
            self.offset += end + 1
            chunk = chunk[end + 1 :]
            self.skip_line = False
        buf = self.pending + bytes(chunk) if self.pending else bytes(chunk)
        self.at = 0
        try:
            pos = self._walk(buf)
        except Malformed as exc:
            self.offset += self.at
            self._stop(str(exc))
            return
        self.offset += pos
        self.pending = buf[pos:]

    def finish(self) -> WalkReport:
        if not self.done and (self.pending or self.skip or self.skip_line or self.ops):
            self._stop("the file ends inside a pickle")
        return self.found

    def _stop(self, reason: str) -> None:
        """The walk cannot go on: after a complete pickle that is trailing data, else a flaw."""
        self.done = True
        self.pending = b""
        if self.ops and self.globals_here:
            self.found.pickle = True
            self.found.note(f"{reason} at byte {self.offset}; the rest was not scanned")

    # the walk

    def _walk(self, buf: bytes) -> int:
        """Interpret whole opcodes from `buf`; return where the first incomplete one starts."""
        n = len(buf)
        pos = 0
        while pos < n:
            self.at = pos
            code = buf[pos]
            run = RUNS.get(code)
            if run is not None and (repeats := run[0].match(buf, pos)):
                # a run of one opcode pushing a value: the items of a list of floats, ...
                count = (repeats.end() - pos) // run[1]
                self.ops += count
                self._push_opaque(count)
                pos = repeats.end()
                continue
            spec = SPECS.get(code)
            if spec is None:
                raise Malformed(f"byte {code:#04x} is no pickle opcode")
            start = pos + 1
            value: Any = None
            if spec.kind == FIXED:
                end = start + spec.size
                if end > n:
                    return pos
                value = buf[start:end]
            elif spec.kind == COUNTED:
                body = start + spec.size
                if body > n:
                    return pos
                length = int.from_bytes(buf[start:body], "little", signed=spec.signed)
                if length < 0:
                    raise Malformed(f"{spec.name} with a negative length")
                end = body + length
                if spec.string and length <= MAX_NAME:
                    if end > n:
                        return pos
                    value = _decode(buf[body:end])
                elif end > n:
                    self.skip = end - n
                    end = n
            else:
                lines = 2 if spec.kind == PAIR else 1
                end = start
                for _ in range(lines):
                    nl = buf.find(b"\n", end)
                    if nl < 0:
                        if n - start > MAX_LINE:
                            if spec.kind == PAIR:
                                raise Malformed(f"{spec.name} names a module too long")
                            self.skip_line = True
                            end = n
                            break
                        return pos
                    end = nl + 1
                value = buf[start:end] if not self.skip_line else None
            pos = end
            self._apply(spec, value)
            if self.done:
                return pos
        return pos

    def _apply(self, spec: OpSpec, arg: Any) -> None:
        self.ops += 1
        if spec.plain:
            if spec.mark:
                self._pop_to_mark()
            if spec.pops:
                self._pop(spec.pops)
            if spec.pushes:
                self._push_opaque(spec.pushes)
            return
        op = spec.name
        if op == "PROTO":
            if arg[0] > HIGHEST_PROTOCOL:
                raise Malformed(f"unsupported pickle protocol {arg[0]}")
            return
        if op in ("GLOBAL", "INST"):
            module, attribute = _two_lines(arg)
            self._import(module, attribute)
        elif op == "STACK_GLOBAL":
            attribute, module = self._pop_value(), self._pop_value()
            if isinstance(module, str) and isinstance(attribute, str):
                self._import(module, attribute)
            else:
                self.globals_here = True
                self.found.globals.add(UNKNOWN)
            self._push_opaque(1)
            return
        elif op in ("EXT1", "EXT2", "EXT4"):
            self._import("copyreg", f"extension_{int.from_bytes(arg, 'little', signed=True)}")
        elif op in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            self._memoize(op, arg)
            return
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            key = _number(arg) if op == "GET" else int.from_bytes(arg, "little")
            value = self.memo.get(key)
            if value is None:
                self._push_opaque(1)
            else:
                self._push(value)
            return
        elif op == "DUP":
            top = self._pop_value()
            for _ in range(2):
                self._push(top) if isinstance(top, str) else self._push_opaque(1)
            return
        elif op == "MARK":
            self._push(MARK)
            return
        elif op == "STOP":
            self._pop(1)
            self.found.pickle = True
            self._new_pickle()
            return
        elif op in ("STRING", "UNICODE") and arg is not None:
            self._push_string(_text(op, arg))
            return
        elif arg is not None and spec.kind == COUNTED and isinstance(arg, str):
            self._push(arg)
            return
        if spec.mark:
            self._pop_to_mark()
        self._pop(spec.pops)
        self._push_opaque(spec.pushes)

    def _import(self, module: str, attribute: str) -> None:
        if not (NAME.fullmatch(module) and NAME.fullmatch(attribute)):
            raise Malformed("an import of something that is not a name")
        self.globals_here = True
        self.found.add_global(module, attribute)

    # the modelled stack: strings as themselves, MARK, runs of other values as counts

    def _push(self, value: Any) -> None:
        if self.blind:
            return
        if len(self.stack) >= MAX_STACK:
            self.blind = True
            self.stack = []
            return
        self.stack.append(value)

    def _push_string(self, value: str | None) -> None:
        if value is None:
            self._push_opaque(1)
        else:
            self._push(value)

    def _push_opaque(self, n: int) -> None:
        if n == 0 or self.blind:
            return
        if self.stack and type(self.stack[-1]) is int:
            self.stack[-1] += n
        else:
            self._push(n)

    def _pop(self, n: int) -> None:
        if self.blind:
            return
        while n:
            if not self.stack or self.stack[-1] is MARK:
                raise Malformed("the pickle pops more than it pushed")
            top = self.stack[-1]
            if type(top) is int and top > n:
                self.stack[-1] = top - n
                return
            self.stack.pop()
            n -= top if type(top) is int else 1

    def _pop_value(self) -> Any:
        """The top value: a string, or None for anything else."""
        if self.blind:
            return None
        top = self.stack[-1] if self.stack else None
        self._pop(1)
        return top if isinstance(top, str) else None

    def _pop_to_mark(self) -> None:
        if self.blind:
            return
        while self.stack:
            if self.stack.pop() is MARK:
                return
        raise Malformed("no MARK to return to")

    def _memoize(self, op: str, arg: Any) -> None:
        if op == "MEMOIZE":
            key = self.memo_len + len(self.memo_extra)
        elif op == "PUT":
            key = _number(arg)
        else:
            key = int.from_bytes(arg, "little")
        if not self.blind and (not self.stack or self.stack[-1] is MARK):
            raise Malformed("memoising an empty stack")
        top = None if self.blind else self.stack[-1]
        if key == self.memo_len:
            self.memo_len += 1
            while self.memo_len in self.memo_extra:
                self.memo_extra.discard(self.memo_len)
                self.memo_len += 1
        elif key > self.memo_len and len(self.memo_extra) < MAX_MEMO:
            self.memo_extra.add(key)
        if isinstance(top, str) and len(self.memo) < MAX_MEMO:
            self.memo[key] = top
        else:
            self.memo.pop(key, None)


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _two_lines(raw: bytes) -> tuple[str, str]:
    first, second, _ = raw.split(b"\n", 2)
    try:
        return first.decode("utf-8"), second.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("an import name that is not UTF-8") from None


def _number(raw: bytes | None) -> int:
    try:
        return int(raw.strip())  # type: ignore[union-attr]
    except (ValueError, AttributeError):
        raise Malformed("a memo key that is not a number") from None


def _text(op: str, raw: bytes) -> str | None:
    """The str a protocol 0 STRING or UNICODE argument stands for, if short."""
    raw = raw.rstrip(b"\n")
    if len(raw) > MAX_NAME + 2:
        return None
    try:
        if op == "UNICODE":
            return raw.decode("raw-unicode-escape")
        if len(raw) >= 2 and raw[:1] == raw[-1:] and raw[:1] in (b"'", b'"'):
            return raw[1:-1].decode("unicode-escape")
    except UnicodeDecodeError:
        return None
    raise Malformed("a STRING argument without quotes")
