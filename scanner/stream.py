"""The scanner's face: fed a file's bytes chunk by chunk, it returns the file's verdict.

It holds a bounded amount of the file at a time. The first bytes tell which walk follows
the rest, as the loaders would tell: a zip archive's (`torch.load`, `numpy.load` of `.npz`),
a NumPy array's (`.npy`), a compressed stream's (gzip, zlib, bzip2, xz: joblib, `.pkl.gz`),
else the opcode walk over plain pickles. Each scan has a CPU budget that grows with the
bytes fed; past it the verdict is SUSPICIOUS.
"""

from datetime import UTC, datetime
from functools import partial

from flrepo.scanner.allowlists import NO_ALLOWLIST, Allowlist
from flrepo.scanner.archives import LOCAL, ZipWalker
from flrepo.scanner.budget import Budget, Meter, OverBudget
from flrepo.scanner.compressed import Both, DecompressWalker, compression
from flrepo.scanner.limits import MAX_DEPTH
from flrepo.scanner.numpy_files import MAGIC, NpyWalker
from flrepo.scanner.pickles import PickleWalker
from flrepo.scanner.report import Walker, WalkReport
from flrepo.scanner.rules import classify_pair, dotted
from flrepo.scanner.verdicts import SCANNER, Safety, Verdict

HEAD = 6  # bytes that tell the kind of file
LZ4 = b"\x04\x22\x4d\x18"  # joblib reads these too, where the lz4 package is installed


class FileScanner:
    """Feed a file's bytes in order with `feed`; `result` judges what they hold.

    `allow` is the operator's allowlist for this kind of file; `budget` the CPU time the
    scan may take. Archives' members are scanned by FileScanners of their own (`depth`),
    which share their archive's `meter`.
    """

    def __init__(
        self,
        allow: Allowlist = NO_ALLOWLIST,
        budget: Budget | None = None,
        *,
        depth: int = 0,
        meter: Meter | None = None,
    ) -> None:
        self.allow = allow
        self.depth = depth  # of archives around this file
        self.meter = meter or Meter(budget or Budget())
        self.head = b""
        self.walker: Walker | None = None
        self.stopped: str | None = None  # why the scan stopped early (its budget)

    def feed(self, chunk: bytes | memoryview) -> None:
        if self.stopped:
            return
        if self.depth:
            self._feed(chunk)
            return
        self.meter.start(len(chunk))
        try:
            self._feed(chunk)
        except OverBudget as exc:
            self.stopped = str(exc)
        finally:
            self.meter.stop()

    def _feed(self, chunk: bytes | memoryview) -> None:
        if self.walker is None:
            self.head += chunk
            if len(self.head) < HEAD:
                return
            self._start()
            chunk, self.head = self.head, b""
        assert self.walker is not None
        self.walker.feed(chunk)

    def _start(self) -> None:
        head = self.head
        kind = compression(head)
        archive = head.startswith(LOCAL) or head.startswith(MAGIC) or kind
        if archive and self.depth > MAX_DEPTH:
            walker = PickleWalker(self.meter)
            walker.done = True
            walker.give_up("an archive nested this deep was not scanned")
            self.walker = walker
        elif head.startswith(LOCAL):
            self.walker = ZipWalker(self._inner, self.meter)
        elif head.startswith(MAGIC):
            self.walker = NpyWalker(partial(PickleWalker, self.meter))
        elif kind == "bzip2":  # `BZh` is also a pickle's first opcode: read it both ways
            inner = DecompressWalker(kind, self._inner(), self.meter)
            self.walker = Both(inner, PickleWalker(self.meter))
        elif kind:
            self.walker = DecompressWalker(kind, self._inner(), self.meter)
        else:
            self.walker = PickleWalker(self.meter)
            if head.startswith(LZ4):
                self.walker.done = True
                self.walker.give_up("lz4-compressed data were not scanned")

    def _inner(self) -> "FileScanner":
        return FileScanner(depth=self.depth + 1, meter=self.meter)

    @property
    def done(self) -> bool:
        """Nothing more that is fed can change the result."""
        return self.stopped is not None or (self.walker is not None and self.walker.done)

    def finish(self) -> WalkReport:
        """What the bytes fed hold, before any judgement."""
        if self.walker is None:
            self._start()
            assert self.walker is not None
            self.walker.feed(self.head)
        found = self.walker.finish()
        if self.stopped:
            found.note(self.stopped)
        return found

    def result(self) -> Safety:
        found = self.finish()
        kinds, allowed_by = {}, set()
        for name in found.globals:
            kind = classify_pair(*name)
            if kind == "suspicious" and (entry := self.allow.entry_for(name)):
                kind = "innocuous"
                allowed_by.add(entry)
            kinds[name] = kind
        dangerous = sorted(dotted(n) for n, kind in kinds.items() if kind == "dangerous")
        suspicious = sorted(dotted(n) for n, kind in kinds.items() if kind == "suspicious")
        if dangerous:
            verdict = Verdict.DANGEROUS
        elif found.notes or suspicious:
            verdict = Verdict.SUSPICIOUS
        elif found.pickle:
            verdict = Verdict.SAFE
        else:
            verdict = Verdict.NOT_PICKLE
        return Safety(
            verdict=verdict,
            globals=tuple(sorted(dotted(n) for n in kinds)),
            dangerous_globals=tuple(dangerous),
            notes=tuple(found.notes),
            scanner=SCANNER,
            scanned_at=datetime.now(UTC).replace(microsecond=0),
            suspicious_globals=tuple(suspicious),
            allowed_by=tuple(sorted(allowed_by)),
        )
