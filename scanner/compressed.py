"""The walk over gzip and zlib streams (`.pkl.gz`, joblib's compressed dumps)."""

import zlib

from flrepo.scanner.limits import INFLATE_OUT, MAX_EXPANSION
from flrepo.scanner.report import Walker, WalkReport


def compressed_wbits(head: bytes) -> int:
    """zlib's `wbits` for a gzip or zlib stream, else 0.

    Neither first byte is a pickle opcode, so no pickle is taken for one.
    """
    if head[:2] == b"\x1f\x8b":
        return 31
    if len(head) >= 2 and head[0] == 0x78 and int.from_bytes(head[:2], "big") % 31 == 0:
        return 15
    return 0


class InflateWalker:
    """A gzip or zlib stream: what it inflates to is scanned, a MiB at a time."""

    def __init__(self, wbits: int, contents: Walker) -> None:
        self.inflater = zlib.decompressobj(wbits)
        self.inner = contents
        self.found = WalkReport()
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

    def finish(self) -> WalkReport:
        self.found.merge(self.inner.finish(), "compressed contents")
        return self.found
