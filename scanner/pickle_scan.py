"""Static pickle scanning of a byte stream: the imports a pickle names, never loading it.

A `FileScanner` is fed a file chunk by chunk and holds a bounded amount of it at a time.
Plain pickles (any protocol, several in a row) are walked opcode by opcode with a small model
of the unpickler's stack and memo, so that `STACK_GLOBAL` learns the names it imports. Zip
archives (PyTorch `.pt`, `.keras`, ...) are walked through their local headers as they pass;
every member, stored or deflated, is scanned the same way, and the central directory at the
end is checked to list no member that the walk did not see.

Each import is judged with picklescan's lists of dangerous and innocuous globals plus a few
rules of our own (see `classify`): anything not known to be innocuous is suspicious.
"""

import _compat_pickle
import pickletools
import re
import struct
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version
from typing import Any, Literal

from picklescan.scanner import _safe_globals, _unsafe_globals


class Verdict(StrEnum):
    SAFE = "SAFE"  # a pickle importing only innocuous names (or nothing)
    SUSPICIOUS = "SUSPICIOUS"  # imports names not known to be innocuous, or could not be followed
    DANGEROUS = "DANGEROUS"  # imports a name that can run commands or code
    NOT_PICKLE = "NOT_PICKLE"  # holds no pickle (nor does any member of an archive)
    UNSCANNED = "UNSCANNED"  # stored before scanning existed, not scanned since


# What an upload found DANGEROUS gets: stored with its label, or refused.
PicklePolicy = Literal["report", "refuse"]

SCANNER = f"flrepo-pickle-scan/1 (picklescan {version('picklescan')} lists)"
UNKNOWN = "<unknown>"  # a STACK_GLOBAL whose names are computed, not literal strings

HIGHEST_PROTOCOL = 5
MAX_GLOBALS = 500  # distinct imports recorded per file
MAX_NAME = 256  # longer module or attribute names are cut
MAX_LINE = 64 * 1024  # text arguments (protocol 0) longer than this are skipped, not held
MAX_STACK = 100_000  # stack entries modelled; beyond that only GLOBAL/INST names are exact
MAX_MEMO = 100_000  # memoised strings remembered
MAX_DEPTH = 2  # archives inside archives looked into
INFLATE_OUT = 1024 * 1024  # bytes inflated at a time

# Our additions to picklescan's lists.
DANGEROUS_NAMES = {
    "builtins": {"__import__", "setattr", "delattr", "globals", "locals", "vars", "input"},
    "importlib": "*",
    "marshal": "*",
    "multiprocessing": "*",
    "_posixsubprocess": "*",
    "types": {"FunctionType", "LambdaType", "MethodType"},
    "code": "*",
    "codeop": "*",
}
INNOCUOUS_NAMES = {
    "builtins": {
        "set", "frozenset", "bytearray", "bytes", "complex", "slice", "range", "object",
        "int", "float", "str", "list", "dict", "tuple", "bool",
    },
    "_codecs": {"encode"},
    "copyreg": {"_reconstructor"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "numpy": {"ndarray", "dtype"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.random._pickle": {"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"},
    "torch": {
        "Size", "device", "float16", "float32", "float64", "bfloat16", "int8", "int16",
        "int32", "int64", "uint8", "bool", "complex64", "complex128", "UntypedStorage",
    },
    "torch._utils": {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter"},
    "torch._tensor": {"_rebuild_from_type_v2"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
}  # fmt: skip
# Estimator classes of scikit-learn (`sklearn.linear_model._base.LinearRegression`).
SKLEARN_CLASS = re.compile(r"sklearn(\.\w+)+\.[A-Z]\w*")
NAME = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")


def _listed(lists: dict[str, Any], module: str, name: str) -> bool:
    entry = lists.get(module)
    if entry is None:
        return False
    if entry == "*":
        return True
    names = {entry} if isinstance(entry, str) else entry
    return name in names or name.split(".", 1)[0] in names


def _dangerous_module(module: str) -> bool:
    """A module every name of which is dangerous, or a submodule of one."""
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    lists = (_unsafe_globals, DANGEROUS_NAMES)
    return any(names.get(prefix) == "*" for names in lists for prefix in prefixes)


def _dangerous(module: str, attribute: str) -> bool:
    if _dangerous_module(module):
        return True
    if any(_listed(names, module, attribute) for names in (_unsafe_globals, DANGEROUS_NAMES)):
        return True
    steps = attribute.split(".")
    return len(steps) > 1 and any(
        step.startswith("__") or _dangerous_module(step) or step in DANGEROUS_BUILTINS
        for step in steps
    )


def classify(name: str) -> str:
    """'dangerous', 'innocuous' or 'suspicious' for an import written `module attribute`.

    Protocol 4 looks dotted attributes up step by step (`posixpath` + `os.system`), so a
    dotted attribute naming a dangerous module or a dunder is dangerous too. Protocols 0-2
    import Python 2 names under their Python 3 names: both are judged.
    """
    if name == UNKNOWN:
        return "dangerous"
    written = tuple(name.split(" ", 1))
    module, attribute = _py3_name(*written)
    if _dangerous(*written) or _dangerous(module, attribute):
        return "dangerous"
    if "." not in attribute and (
        _listed(_safe_globals, module, attribute)
        or attribute in INNOCUOUS_NAMES.get(module, ())
        or SKLEARN_CLASS.fullmatch(f"{module}.{attribute}")
    ):
        return "innocuous"
    return "suspicious"


DANGEROUS_BUILTINS = set(_unsafe_globals["builtins"]) | DANGEROUS_NAMES["builtins"]


def _py3_name(module: str, attribute: str) -> tuple[str, str]:
    """The name Python 3 imports for a protocol 0-2 pickle naming a Python 2 one."""
    if (module, attribute) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, attribute)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), attribute


@dataclass(frozen=True)
class Safety:
    """A file's scan result, as stored in its `fs.files` document under `safety`."""

    verdict: Verdict
    globals: tuple[str, ...] = ()
    dangerous_globals: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    scanner: str | None = None
    scanned_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "globals": list(self.globals),
            "dangerousGlobals": list(self.dangerous_globals),
            "notes": list(self.notes),
            "scanner": self.scanner,
            "scannedAt": self.scanned_at,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any] | None) -> "Safety":
        """The stored result; UNSCANNED when there is none."""
        if not isinstance(doc, dict) or doc.get("verdict") not in Verdict.__members__:
            return NEVER_SCANNED
        scanned_at = doc.get("scannedAt")
        return cls(
            verdict=Verdict(doc["verdict"]),
            globals=tuple(doc.get("globals") or ()),
            dangerous_globals=tuple(doc.get("dangerousGlobals") or ()),
            notes=tuple(doc.get("notes") or ()),
            scanner=doc.get("scanner"),
            scanned_at=scanned_at.replace(tzinfo=UTC) if isinstance(scanned_at, datetime) else None,
        )


NEVER_SCANNED = Safety(Verdict.UNSCANNED)


@dataclass
class Finding:
    """What a walk found: whether there was a pickle, the imports, what could not be followed."""

    pickle: bool = False
    globals: set[str] = field(default_factory=set)
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
        if text not in self.notes and len(self.notes) < 20:
            self.notes.append(text)

    def merge(self, other: "Finding", where: str) -> None:
        self.pickle |= other.pickle
        for name in other.globals:
            if name == UNKNOWN:
                self.globals.add(name)
            else:
                self.add_global(*name.split(" ", 1))
        for text in other.notes:
            self.note(f"{where}: {text}")


class FileScanner:
    """Feed a file's bytes in order with `feed`; `result` judges what they hold."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self.head = b""
        self.walker: PickleWalker | ZipWalker | InflateWalker | None = None

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.walker is None:
            self.head += chunk
            if len(self.head) < 4:
                return
            self._start()
            chunk, self.head = self.head, b""
        assert self.walker is not None
        self.walker.feed(chunk)

    def _start(self) -> None:
        wbits = _compressed(self.head)
        if not (self.head.startswith(LOCAL) or wbits):
            self.walker = PickleWalker()
        elif self.depth > MAX_DEPTH:
            self.walker = PickleWalker()
            self.walker.done = True
            self.walker.found.note("an archive nested this deep was not scanned")
        elif wbits:
            self.walker = InflateWalker(self.depth, wbits)
        else:
            self.walker = ZipWalker(self.depth)

    @property
    def done(self) -> bool:
        """Nothing more that is fed can change the result."""
        return self.walker is not None and self.walker.done

    def finding(self) -> Finding:
        if self.walker is None:
            self._start()
            assert self.walker is not None
            self.walker.feed(self.head)
        return self.walker.finish()

    def result(self) -> Safety:
        found = self.finding()
        names = {name: classify(name) for name in found.globals}
        dangerous = sorted(n for n, kind in names.items() if kind == "dangerous")
        if dangerous:
            verdict = Verdict.DANGEROUS
        elif found.notes or any(kind == "suspicious" for kind in names.values()):
            verdict = Verdict.SUSPICIOUS
        elif found.pickle:
            verdict = Verdict.SAFE
        else:
            verdict = Verdict.NOT_PICKLE
        return Safety(
            verdict=verdict,
            globals=tuple(sorted(_dotted(n) for n in names)),
            dangerous_globals=tuple(_dotted(n) for n in dangerous),
            notes=tuple(found.notes),
            scanner=SCANNER,
            scanned_at=datetime.now(UTC).replace(microsecond=0),
        )


def _compressed(head: bytes) -> int:
    """zlib's `wbits` for a gzip or zlib stream (`.pkl.gz`, joblib's compressed dumps), else 0.

    Neither first byte is a pickle opcode, so no pickle is taken for one.
    """
    if head[:2] == b"\x1f\x8b":
        return 31
    if len(head) >= 2 and head[0] == 0x78 and int.from_bytes(head[:2], "big") % 31 == 0:
        return 15
    return 0


def _dotted(name: str) -> str:
    return name if name == UNKNOWN else name.replace(" ", ".", 1)


# --- plain pickles --------------------------------------------------------------------------

MARK = object()
OPAQUE = 0  # a stack run of `n` values we do not model is stored as the int n (> 0)

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
        self.found = Finding()
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

    def finish(self) -> Finding:
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


# --- compressed streams ---------------------------------------------------------------------

MAX_EXPANSION = 100  # inflated bytes followed per compressed byte, beyond a first MiB


class InflateWalker:
    """A gzip or zlib stream: what it inflates to is scanned, a MiB at a time."""

    def __init__(self, depth: int, wbits: int) -> None:
        self.inflater = zlib.decompressobj(wbits)
        self.inner = FileScanner(depth + 1)
        self.found = Finding()
        self.done = False
        self.read = self.inflated = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        self.read += len(chunk)
        try:
            out = self.inflater.decompress(chunk, INFLATE_OUT)
            while out:
                self.inflated += len(out)
                self.inner.feed(out)
                if self.inner.done or self.inflater.eof:
                    break
                if self.inflated > MAX_EXPANSION * self.read + (1 << 20):
                    self.found.note("expands more than a hundredfold; the rest was not scanned")
                    self.done = True
                    return
                out = self.inflater.decompress(self.inflater.unconsumed_tail, INFLATE_OUT)
        except zlib.error:
            self.done = True  # no reader gets further than this either
            return
        self.done = self.inner.done or self.inflater.eof

    def finish(self) -> Finding:
        self.found.merge(self.inner.finding(), "compressed contents")
        return self.found


# --- zip archives ---------------------------------------------------------------------------

LOCAL, CENTRAL, DESCRIPTOR = b"PK\x03\x04", b"PK\x01\x02", b"PK\x07\x08"
ENDS = {b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x05"}
STORED, DEFLATED = 0, 8
Walk = Generator[None, bytes, Any]


class ZipWalker:
    """Walks a zip archive's members as they pass, scanning each with a FileScanner."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.found = Finding()
        self.pending = b""
        self.position = 0  # archive offset of `pending`'s first byte
        self.members: set[int] = set()  # offsets of the local headers walked
        self.ended = False
        self.lost = False  # a member's end could not be found
        self.done = False
        self.walk = self._walk()
        next(self.walk)

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.done:
            return
        try:
            self.walk.send(bytes(chunk))
        except StopIteration:
            self.done = True

    def finish(self) -> Finding:
        if not self.ended:
            self.found.note("the archive ends before its directory; it was not fully scanned")
        return self.found

    # reading

    def _read(self, n: int) -> Walk:
        buf = self.pending
        while len(buf) < n:
            buf += yield
        self.pending = buf[n:]
        self.position += n
        return buf[:n]

    def _next(self) -> Walk:
        """Some bytes: what is pending, or the next chunk."""
        while not self.pending:
            self.pending = yield
        data, self.pending = self.pending, b""
        self.position += len(data)
        return data

    def _unread(self, data: bytes) -> None:
        self.pending = data + self.pending
        self.position -= len(data)

    def _forward(self, n: int, sink: Callable[[bytes], None]) -> Walk:
        while n:
            data = yield from self._next()
            if len(data) > n:
                self._unread(data[n:])
                data = data[:n]
            sink(data)
            n -= len(data)

    # the archive

    def _walk(self) -> Walk:
        while True:
            signature = yield from self._read(4)
            if signature == LOCAL:
                if not (yield from self._member()):
                    return
            elif signature == CENTRAL:
                yield from self._directory_entry()
            elif signature in ENDS:
                self.ended = True
                return
            else:
                self.found.note(f"unexpected bytes at offset {self.position - 4}")
                self.ended = True
                return

    def _member(self) -> Walk:
        """Scan one member; False if the walk cannot find where the next one starts."""
        start = self.position - 4
        self.members.add(start)
        header = yield from self._read(26)
        flags, method = struct.unpack_from("<HH", header, 2)
        csize, usize, name_len, extra_len = struct.unpack_from("<IIHH", header, 14)
        name = _name((yield from self._read(name_len)), flags)
        extra = yield from self._read(extra_len)
        zip64 = 0x0001 in _extras(extra)
        if zip64:
            sizes = _zip64_sizes(_extras(extra)[0x0001], usize, csize)
            usize, csize = sizes.get("usize", usize), sizes.get("csize", csize)
        descriptor = bool(flags & 0x08)
        scanner = FileScanner(self.depth + 1)
        if flags & 0x01 or method not in (STORED, DEFLATED):
            why = "encrypted" if flags & 0x01 else f"compressed with method {method}"
            self.found.note(f"member {name!r} is {why} and was not scanned")
            if descriptor:
                return False
            yield from self._forward(csize, lambda _: None)
        elif method == STORED and not descriptor:
            yield from self._forward(csize, scanner.feed)
        elif method == STORED:
            if not (yield from self._stored_until_descriptor(scanner.feed)):
                self.found.note(f"member {name!r}: its end was not found")
                return False
        else:
            yield from self._inflate(csize if not descriptor else None, scanner)
            if self.lost:
                return False
        if descriptor and method != STORED:
            yield from self._skip_descriptor(zip64)
        self.found.merge(scanner.finding(), f"member {name!r}")
        return True

    def _inflate(self, csize: int | None, scanner: FileScanner) -> Walk:
        """Inflate a member into `scanner`: `csize` bytes, or up to the deflate stream's end."""
        inflater = zlib.decompressobj(-15)
        left = csize
        while left is None or left > 0:
            data = yield from self._next()
            if left is not None:
                if len(data) > left:
                    self._unread(data[left:])
                    data = data[:left]
                left -= len(data)
                if scanner.done:
                    continue  # the rest cannot change the result: skip it, do not inflate
            try:
                out = inflater.decompress(data, INFLATE_OUT)
                while True:
                    scanner.feed(out)
                    if not inflater.unconsumed_tail or inflater.eof:
                        break
                    out = inflater.decompress(inflater.unconsumed_tail, INFLATE_OUT)
            except zlib.error:
                self.found.note("a member's deflated data is corrupt")
                self.lost = left is None
                if self.lost:
                    return
                continue
            if inflater.eof and left is None:
                self._unread(inflater.unused_data)
                return

    def _skip_descriptor(self, zip64: bool) -> Walk:
        head = yield from self._read(4)
        if head != DESCRIPTOR:
            self._unread(head)
        yield from self._read(20 if zip64 else 12)

    def _stored_until_descriptor(self, sink: Callable[[bytes], None]) -> Walk:
        """Pass a stored member of unknown size: it ends where a data descriptor matches it."""
        crc, size, buf = 0, 0, b""
        while True:
            buf += yield from self._next()
            at = buf.find(DESCRIPTOR)
            while at >= 0 and at + 24 <= len(buf):
                c = zlib.crc32(buf[:at], crc)
                d_crc, d_csize = struct.unpack_from("<II", buf, at + 4)
                (d_csize64,) = struct.unpack_from("<Q", buf, at + 8)
                if c == d_crc and size + at in (d_csize, d_csize64):
                    sink(buf[:at])
                    tail = 16 if d_csize == size + at else 24
                    self._unread(buf[at + tail :])
                    return True
                at = buf.find(DESCRIPTOR, at + 1)
            keep = len(buf) - 23 if at < 0 else at
            if keep > 0:
                crc = zlib.crc32(buf[:keep], crc)
                size += keep
                sink(buf[:keep])
                buf = buf[keep:]

    def _directory_entry(self) -> Walk:
        """Check that a central directory entry names a member the walk scanned."""
        header = yield from self._read(42)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", header, 24)
        (offset,) = struct.unpack_from("<I", header, 38)
        csize, usize = struct.unpack_from("<II", header, 16)
        (flags,) = struct.unpack_from("<H", header, 4)
        name = _name((yield from self._read(name_len)), flags)
        extras = _extras((yield from self._read(extra_len)))
        yield from self._read(comment_len)
        if offset == 0xFFFFFFFF and 0x0001 in extras:
            offset = _zip64_sizes(extras[0x0001], usize, csize, offset).get("offset", offset)
        if offset not in self.members:
            self.found.note(f"the directory lists {name!r} where no member was scanned")


def _name(raw: bytes, flags: int) -> str:
    return raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")


def _extras(raw: bytes) -> dict[int, bytes]:
    fields, i = {}, 0
    while i + 4 <= len(raw):
        tag, size = struct.unpack_from("<HH", raw, i)
        fields[tag] = raw[i + 4 : i + 4 + size]
        i += 4 + size
    return fields


def _zip64_sizes(raw: bytes, usize: int, csize: int, offset: int = 0) -> dict[str, int]:
    """The zip64 extra field holds, in order, whichever of these were 0xFFFFFFFF."""
    values, i = {}, 0
    for key, value in (("usize", usize), ("csize", csize), ("offset", offset)):
        if value == 0xFFFFFFFF and i + 8 <= len(raw):
            (values[key],) = struct.unpack_from("<Q", raw, i)
            i += 8
    return values
