"""The opcode walk over plain pickles: the names they import, learnt without loading them.

Pickles of any protocol, several in a row, are walked opcode by opcode across chunk
boundaries with a model of the unpickler's stack and memo, so that `STACK_GLOBAL` learns the
names it imports. The models follow `_pickle`'s rules exactly (memo keys as it assigns them,
POP taking a MARK, ...), and where a bound stops them they say so: a name that comes from
what the models no longer hold is reported as not followed, never guessed. Long arguments
(the bytes of an array) are passed over, never held. The walk is ours because
`pickletools.genops` (and picklescan, which uses it) reads each argument whole, and a file's
bytes come in chunks.
"""

import codecs
import pickletools
import re
from dataclasses import dataclass
from typing import Any

from flrepo.scanner.budget import UNMETERED, Meter
from flrepo.scanner.limits import MAX_LINE, MAX_NAME, MAX_STACK_BYTES
from flrepo.scanner.memo import LOST, UNKNOWN_VALUE, MemoModel
from flrepo.scanner.report import WalkReport
from flrepo.scanner.rules import UNFOLLOWED, UNKNOWN

HIGHEST_PROTOCOL = 5
CHECK_EVERY = 2048  # opcodes between looks at the CPU budget

MARK = object()  # the unpickler's MARK
FLOOR = object()  # the bottom of a stack whose lower part was forgotten

FIXED, LINE, PAIR, COUNTED = range(4)
STRING_ARGS = {"unicodestring1", "unicodestring4", "unicodestring8", "string1", "string4"}
STRING_COST, ENTRY_COST, COUNT_COST = 64, 8, 40  # bytes the stack's entries take, roughly


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
    "STRING", "UNICODE", "POP",
}  # fmt: skip


SPECS: dict[int, OpSpec] = {ord(op.code): _spec(op) for op in pickletools.opcodes}

# Opcodes that only push one value of no interest (numbers, None, empty containers), runs
# of them, and short sequences that leave the stack as they found it whatever it holds
# (a push then POP, MARK ... POP_MARK, MARK then POP, a tuple of pushes popped): long lists
# of numbers, and CPU bombs made of such sequences, go by a regular expression's match
# rather than an opcode at a time. Each match is of whole opcodes.
_PUSH = rb"(?:[N\x88\x89)\]}\x8f]|K.|M..|J....|G.{8})"
_QUIET = rb"(?:%s\x85*0|\(%s*(?:1|[tl\x91]0)|\(0)" % (_PUSH, _PUSH)
PUSH = re.compile(_PUSH, re.S)
PUSHES = re.compile(_PUSH + b"+", re.S)
PUSH_POPS = re.compile(b"(?:" + _PUSH + b"0)+", re.S)  # the commonest, matched fastest
QUIET = re.compile(rb"(?:%s(?:%s|%s\x86)*0|%s)+" % (_PUSH, _QUIET, _PUSH, _QUIET), re.S)
RUN_START = frozenset(b"N\x88\x89)]}\x8fKMJG(")


class Malformed(Exception):
    """The bytes stop being a pickle here: `_pickle` would raise here too."""


class PickleWalker:
    """Walks pickle opcodes across chunk boundaries, holding at most one short argument."""

    def __init__(self, meter: Meter = UNMETERED) -> None:
        self.meter = meter
        self.found = WalkReport()
        self.pending = b""
        self.kept_memo: MemoModel | None = None
        self.skip = 0  # bytes of a long argument still to pass over
        self.skip_line: OpSpec | None = None  # passing over a long text argument of this op
        self.done = False
        self.offset = 0  # of `pending`'s first byte in the stream
        self.at = 0  # of the opcode being read, in the buffer being walked
        self._new_pickle()

    def _new_pickle(self) -> None:
        self.stack: list[Any] = []
        self.stack_bytes = 0
        self.ops = 0  # in the current pickle
        self.globals_here = False
        # The memo of an unpickler made for this pickle (pickle.load, torch, joblib, numpy)
        # and, after a first pickle that wrote to its memo, that of one unpickler loading
        # one pickle after another, whose memo lives on (Unpickler.load called again): a
        # value fetched is known only where the two agree.
        previous = getattr(self, "memo", None)
        if previous is not None and previous.written:
            self.kept_memo = getattr(self, "kept_memo", None) or previous
        self.memo = MemoModel()

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
        if self.skip_line is not None:
            end = bytes(chunk).find(b"\n")
            if end < 0:
                self.offset += len(chunk)
                return
            self.offset += end + 1
            chunk = chunk[end + 1 :]
            spec, self.skip_line = self.skip_line, None
            try:
                self._apply(spec, None)
            except Malformed as exc:
                self._stop(str(exc))
                return
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

    def give_up(self, reason: str) -> None:
        """Say that something was not followed; the file cannot be SAFE after this."""
        self.found.pickle = True
        self.found.note(reason)

    # the walk

    def _walk(self, buf: bytes) -> int:
        """Interpret whole opcodes from `buf`; return where the first incomplete one starts."""
        n = len(buf)
        pos = 0
        countdown = CHECK_EVERY
        specs = SPECS
        while pos < n:
            countdown -= 1
            if not countdown:
                countdown = CHECK_EVERY
                self.meter.check()
            self.at = pos
            code = buf[pos]
            if code in RUN_START:
                pos = self._runs(buf, pos)
                if pos >= n:
                    break
                code = buf[pos]
                self.at = pos
            spec = specs.get(code)
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
                    value = _decode(spec.name, buf[body:end])
                elif end > n:
                    self.skip = end - n
                    end = n
            else:
                lines = 2 if spec.kind == PAIR else 1
                end = start
                skipped = False
                for _ in range(lines):
                    nl = buf.find(b"\n", end)
                    if nl < 0:
                        if n - start > MAX_LINE:
                            if spec.kind == PAIR:
                                raise Malformed(f"{spec.name} names a module too long")
                            self.skip_line = spec
                            skipped = True
                            end = n
                            break
                        return pos
                    end = nl + 1
                if skipped:
                    return n
                value = buf[start:end]
            pos = end
            self._apply(spec, value)
            if self.done:
                return pos
        return pos

    def _runs(self, buf: bytes, pos: int) -> int:
        """Pass over runs of pushes of no interest, and sequences that leave the stack as is.

        The expressions match whole opcodes only, so a run never ends inside an argument.
        """
        while True:
            quiet = PUSH_POPS.match(buf, pos) or QUIET.match(buf, pos)
            if quiet is not None:
                self.ops += 1
                pos = quiet.end()
                continue
            pushes = PUSHES.match(buf, pos)
            if pushes is None:
                return pos
            count = len(PUSH.findall(buf, pos, pushes.end()))
            self.ops += count
            self._push_opaque(count)
            pos = pushes.end()

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
        elif op in ("GLOBAL", "INST"):
            module, attribute = _two_lines(arg)
            self._import(module, attribute)
            if op == "INST":
                self._pop_to_mark()
            self._push_opaque(1)
        elif op == "STACK_GLOBAL":
            attribute, module = self._pop_value(), self._pop_value()
            if isinstance(module, str) and isinstance(attribute, str):
                self._import(module, attribute)
            elif module is LOST or attribute is LOST:
                self.globals_here = True
                self.found.add_global(*UNFOLLOWED)
                self.give_up(
                    "a STACK_GLOBAL's names were not followed: they come from values the "
                    "walk did not keep (the pickle outgrew its stack or memo model)"
                )
            else:
                self.globals_here = True
                self.found.add_global(*UNKNOWN)
            self._push_opaque(1)
        elif op in ("EXT1", "EXT2", "EXT4"):
            self._import("copyreg", f"extension_{int.from_bytes(arg, 'little', signed=True)}")
            self._push_opaque(1)
        elif op in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            self._memoize(op, arg)
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            self._get(op, arg)
        elif op == "DUP":
            if self.stack and self.stack[-1] is FLOOR:
                self._push(LOST)
                return
            top = self._pop_value()
            for _ in range(2):
                self._push_value(top)
        elif op == "POP":
            top = self.stack[-1] if self.stack else None
            if top is MARK:  # `_pickle` and `pickle` both take the MARK away
                self.stack.pop()
                self.stack_bytes -= ENTRY_COST
            elif top is not FLOOR:
                self._pop(1)
        elif op == "MARK":
            self._push(MARK)
        elif op == "STOP":
            self._pop(1)
            self.found.pickle = True
            self._new_pickle()
        elif op in ("STRING", "UNICODE"):
            self._push_value(None if arg is None else _text(op, arg))
        else:  # the counted strings
            self._push_value(arg)

    def _import(self, module: str, attribute: str) -> None:
        if not module or "\0" in module or "\0" in attribute:
            raise Malformed("an import no module can satisfy")
        self.globals_here = True
        self.found.add_global(module, attribute)

    # the modelled stack: strings as themselves, MARK, runs of other values as counts

    def _push(self, value: Any) -> None:
        self.stack.append(value)
        self.stack_bytes += ENTRY_COST + (STRING_COST + len(value) if type(value) is str else 0)
        if self.stack_bytes > MAX_STACK_BYTES:
            self._forget_bottom()

    def _push_value(self, value: Any) -> None:
        """Push what a value is known as: a string, LOST, or anything else (None)."""
        if type(value) is str or value is LOST:
            self._push(value)
        else:
            self._push_opaque(1)

    def _push_opaque(self, n: int) -> None:
        stack = self.stack
        if stack and type(stack[-1]) is int:
            stack[-1] += n
        else:
            stack.append(n)
            self.stack_bytes += COUNT_COST
            if self.stack_bytes > MAX_STACK_BYTES:
                self._forget_bottom()

    def _forget_bottom(self) -> None:
        """Keep the stack model's upper half; what lies below becomes FLOOR."""
        keep = self.stack[len(self.stack) // 2 :]
        self.stack = [FLOOR, *keep] if keep[:1] != [FLOOR] else keep
        self.stack_bytes = sum(_cost(value) for value in self.stack)

    def _pop(self, n: int) -> None:
        stack = self.stack
        while n:
            if not stack or stack[-1] is MARK:
                raise Malformed("the pickle pops more than it pushed")
            top = stack[-1]
            if top is FLOOR:
                return
            if type(top) is int and top > n:
                stack[-1] = top - n
                return
            stack.pop()
            self.stack_bytes -= _cost(top)
            n -= top if type(top) is int else 1

    def _pop_value(self) -> Any:
        """The top value: a string, LOST, or None for anything else."""
        top = self.stack[-1] if self.stack else None
        if top is FLOOR:
            return LOST
        self._pop(1)
        return top if type(top) is str or top is LOST else None

    def _pop_to_mark(self) -> None:
        stack = self.stack
        while stack:
            top = stack[-1]
            if top is FLOOR:
                return
            stack.pop()
            self.stack_bytes -= _cost(top)
            if top is MARK:
                return
        raise Malformed("no MARK to return to")

    # the modelled memos

    def _memos(self) -> tuple[MemoModel, ...]:
        return (self.memo,) if self.kept_memo is None else (self.memo, self.kept_memo)

    def _memoize(self, op: str, arg: Any) -> None:
        if not self.stack or self.stack[-1] is MARK:
            raise Malformed("memoising an empty stack")
        top = self.stack[-1]
        value = LOST if top is FLOOR or top is LOST else top if type(top) is str else None
        for memo in self._memos():
            if op == "MEMOIZE":
                key = memo.next_key()
            elif arg is None:  # a key too long to read
                key = None
            elif op == "PUT":
                key = _number(arg)
                if key < 0:
                    raise Malformed("a negative memo key")
            else:
                key = int.from_bytes(arg, "little")
            memo.write(key, value)
            if memo.lost:
                self.give_up(f"{memo.lost}: values taken from the memo were not followed")

    def _get(self, op: str, arg: Any) -> None:
        key = None if arg is None else int.from_bytes(arg, "little") if op != "GET" else None
        if op == "GET" and arg is not None:
            key = _number(arg)
        value = self.memo.read(key)
        if self.kept_memo is not None:
            kept = self.kept_memo.read(key)
            if kept != value:  # the two lifetimes disagree: what is fetched is not known
                value = LOST
        if value is UNKNOWN_VALUE:
            self._push_opaque(1)
        else:
            self._push(value)


def _cost(value: Any) -> int:
    if type(value) is str:
        return ENTRY_COST + STRING_COST + len(value)
    return COUNT_COST if type(value) is int else ENTRY_COST


def _decode(op: str, raw: bytes) -> str | None:
    """The str a counted string argument gives the loaders, where all of them agree."""
    if op in ("SHORT_BINSTRING", "BINSTRING"):
        return raw.decode("ascii") if raw.isascii() else None  # decoded per `encoding`
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def _two_lines(raw: bytes) -> tuple[str, str]:
    first, second, _ = raw.split(b"\n", 2)
    try:
        return first.decode("utf-8"), second.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("an import name that is not UTF-8") from None


def _number(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise Malformed("a memo key that is not a number") from None


def _text(op: str, raw: bytes) -> str | None:
    """The str a protocol 0 STRING or UNICODE argument stands for, if short."""
    raw = raw[:-1]
    if len(raw) > MAX_NAME + 2:
        return None
    if op == "UNICODE":
        try:
            return raw.decode("raw-unicode-escape")
        except UnicodeDecodeError:
            raise Malformed("a UNICODE argument that does not decode") from None
    if not (len(raw) >= 2 and raw[:1] == raw[-1:] and raw[:1] in (b"'", b'"')):
        raise Malformed("a STRING argument without quotes")
    try:
        value = codecs.escape_decode(raw[1:-1])[0]  # type: ignore[attr-defined]
    except ValueError:
        raise Malformed("a STRING argument that does not decode") from None
    return value.decode("ascii") if value.isascii() else None
