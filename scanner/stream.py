"""The scanner's face: fed a file's bytes chunk by chunk, it returns the file's verdict.

It holds a bounded amount of the file at a time. The first bytes tell which walk follows
the rest: a zip archive's, a gzip or zlib stream's, else the opcode walk over plain pickles.
"""

from datetime import UTC, datetime
from functools import partial

from flrepo.scanner.archives import LOCAL, ZipWalker
from flrepo.scanner.compressed import InflateWalker, compressed_wbits
from flrepo.scanner.limits import MAX_DEPTH
from flrepo.scanner.pickles import PickleWalker
from flrepo.scanner.report import Walker, WalkReport
from flrepo.scanner.rules import classify, dotted
from flrepo.scanner.verdicts import SCANNER, Safety, Verdict


class FileScanner:
    """Feed a file's bytes in order with `feed`; `result` judges what they hold."""

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth  # of archives around this file
        self.head = b""
        self.walker: Walker | None = None

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
        wbits = compressed_wbits(self.head)
        if not (self.head.startswith(LOCAL) or wbits):
            self.walker = PickleWalker()
        elif self.depth > MAX_DEPTH:
            walker = PickleWalker()
            walker.done = True
            walker.found.note("an archive nested this deep was not scanned")
            self.walker = walker
        elif wbits:
            self.walker = InflateWalker(wbits, FileScanner(self.depth + 1))
        else:
            self.walker = ZipWalker(partial(FileScanner, self.depth + 1))

    @property
    def done(self) -> bool:
        """Nothing more that is fed can change the result."""
        return self.walker is not None and self.walker.done

    def finish(self) -> WalkReport:
        """What the bytes fed hold, before any judgement."""
        if self.walker is None:
            self._start()
            assert self.walker is not None
            self.walker.feed(self.head)
        return self.walker.finish()

    def result(self) -> Safety:
        found = self.finish()
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
            globals=tuple(sorted(dotted(n) for n in names)),
            dangerous_globals=tuple(dotted(n) for n in dangerous),
            notes=tuple(found.notes),
            scanner=SCANNER,
            scanned_at=datetime.now(UTC).replace(microsecond=0),
        )
