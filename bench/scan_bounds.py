"""What the scanner's bounds buy: CPU bombs in zip members, and the state of unfinished scans.

    python bench/scan_bounds.py
    python bench/scan_bounds.py --sizes-kb 30 204 --rounds 3

A zip member of `N0` opcodes (push, pop) deflates some two-thousandfold, and one of `20`
(DUP, POP) nearly as well; each is scanned with the scanner's bounds (the member expansion
cap and the CPU budget) and with them lifted, and timed in CPU seconds of the scanning
thread. The baseline, measured in the same run, is `pickle.loads` of a benign pickle (a
list of floats) as large as the member inflates to within the cap, and sha256 of it. Then
hostile pickles are fed to a scanner and left unfinished, as a resumable upload leaves
them, and the scanner's state is measured with tracemalloc.
"""

import argparse
import contextlib
import gc
import hashlib
import io
import pickle
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator

from flrepo.scanner import archives
from flrepo.scanner.budget import Budget
from flrepo.scanner.limits import EXPANSION_FLOOR, MAX_EXPANSION
from flrepo.scanner.stream import FileScanner

KIB = 1024
UNBOUNDED = Budget(1e9, 0.0)


def member_of(unit: bytes, size: int) -> bytes:
    """A zip with one deflated member of `unit` repeated, about `size` bytes compressed."""

    def archive(count: int) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr("data.pkl", b"\x80\x04N" + unit * count)
        return out.getvalue()

    sample = 1_000_000
    return archive(sample * size // len(archive(sample)))


@contextlib.contextmanager
def cap_lifted() -> Iterator[None]:
    archives.MAX_EXPANSION = 10**9
    try:
        yield
    finally:
        archives.MAX_EXPANSION = MAX_EXPANSION


def cpu(work: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        work()
        best = min(best, time.thread_time() - start)
    return best


def scan(data: bytes, budget: Budget | None = None) -> str:
    scanner = FileScanner(budget=budget)
    for i in range(0, len(data), 1 << 20):
        scanner.feed(data[i : i + (1 << 20)])
    return scanner.result().verdict.value


def bombs(sizes_kb: list[int], rounds: int) -> None:
    print("CPU bombs: one deflated zip member (CPU seconds of the scanning thread)")
    print(f"{'member':>22} {'bounded':>9} {'unbounded':>10} {'loads':>8} {'sha256':>8}  verdict")
    for unit, what in ((b"N0", "N0"), (b"20", "20 (DUP, POP)")):
        for kb in sizes_kb:
            data = member_of(unit, kb * KIB)
            bounded = cpu(lambda data=data: scan(data), rounds)
            verdict = scan(data)
            with cap_lifted():
                unbounded = cpu(lambda data=data: scan(data, UNBOUNDED), 1)
            followed = min(MAX_EXPANSION * len(data) + EXPANSION_FLOOR, 64 << 20)
            benign = pickle.dumps([i * 0.5 for i in range(followed // 9)], protocol=4)
            loads = cpu(lambda benign=benign: pickle.loads(benign), rounds)
            digest = cpu(lambda benign=benign: hashlib.sha256(benign).digest(), rounds)
            print(
                f"{what + f' {len(data) // KIB} kB':>22} {bounded:8.2f}s {unbounded:9.2f}s "
                f"{loads:7.3f}s {digest:7.3f}s  {verdict}; bounded = {bounded / loads:.1f}x "
                f"loads, {bounded / digest:.0f}x sha256 of {len(benign) >> 20} MiB"
            )


def hostile() -> dict[str, bytes]:
    names = (b"\x8c\xff" + ((b"n%05d" % i) * 43)[:255] + b"\x94" + b"0" for i in range(20_000))
    strings = (b"\x8c\xff" + bytes([97 + i % 26]) * 255 for i in range(20_000))
    keys = (b"r" + struct.pack("<I", 10**7 + i) for i in range(100_000))
    return {
        "memo of 20,000 long names": b"\x80\x04" + b"".join(names),
        "stack of 20,000 long strings": b"\x80\x04(" + b"".join(strings),
        "200,000 marks": b"\x80\x04" + b"(N" * 200_000,
        "100,000 memo keys out of order": b"\x80\x04N" + b"".join(keys),
    }


def state(data: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        scanner = FileScanner()
        for i in range(0, len(data), 1 << 16):
            scanner.feed(data[i : i + (1 << 16)])
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def states() -> None:
    print("\nState of an unfinished scan (one is kept per resumable upload in progress)")
    baseline = state(b"\x80\x04" + b"K\x01" * 1000)  # a scan of a small benign pickle
    print(f"  baseline (a small benign pickle): {baseline / KIB:.1f} KiB")
    for what, data in hostile().items():
        kept = state(data)
        print(
            f"  {what:>32}: {kept / KIB:6.1f} KiB kept after {len(data) / 2**20:5.1f} MiB fed "
            f"({kept / baseline:.0f}x baseline)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-kb", type=int, nargs="+", default=[30, 204])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bombs(args.sizes_kb, args.rounds)
    states()


if __name__ == "__main__":
    main()
