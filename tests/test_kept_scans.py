"""A server keeps the hash and scan of a bounded number of unfinished uploads, and of one
caller's a quarter of them: hostile input that makes each scan hold megabytes cannot make the
server hold more than the bound. An upload let go is rescanned from its chunks."""

import gc
import hashlib
import tracemalloc
from datetime import timedelta

from flrepo.documents.files import FileStore
from flrepo.documents.upload_shares import UploadShares
from flrepo.documents.uploads import UploadStore
from flrepo.scanner.stream import FileScanner

MEMOS = 10_000  # memoised 252-byte strings: the scanner remembers them all (2.5 MB input)


def hostile() -> bytes:
    """A pickle whose scan state grows with its length (until the scanner's own bounds)."""
    out = bytearray(b"\x80\x04")
    for i in range(MEMOS):
        text = (b"%06d" % i) * 42
        out += b"\x8c" + bytes([len(text)]) + text + b"\x94"
    return bytes(out)


async def one_piece(data: bytes):
    yield data


async def traced(coroutine) -> tuple[object, int]:
    """What `coroutine` returns, and the bytes it left allocated."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    result = await coroutine
    gc.collect()
    return result, tracemalloc.get_traced_memory()[0] - before


async def test_unfinished_hostile_uploads_keep_at_most_the_bound(grid):
    data = hostile()
    files = FileStore(grid, max_bytes=1 << 30, shares=UploadShares(kept_scans=8))
    store = UploadStore(files, timedelta(hours=1))
    assert store.kept.per_owner == 2

    async def begin(owner: str):
        upload = await store.create(2 * len(data), "strategy/s", {}, {}, None, None, None, owner)
        return await store.append(upload, 0, one_piece(data))

    tracemalloc.start()
    try:
        first, one = await traced(begin("address:a"))
        # one hostile upload's scan is bounded by the scanner (a few hundred KiB at most)
        assert 0 < one < 512 * 1024, one
        _, more = await traced(_all(begin("address:a") for _ in range(5)))
        _, theirs = await traced(_all(begin("address:b") for _ in range(2)))
    finally:
        tracemalloc.stop()
    assert len(store.kept) == 4  # two of a's six, both of b's
    assert more < one * 1.5, (one, more)  # a's five more replaced, not added to, its share
    assert theirs > one  # another caller's are kept beside them

    # an upload let go is rescanned from its chunks when it completes
    let_go = first
    done = await store.append(let_go, let_go.offset, one_piece(data))
    stored = await store.store(done)
    assert stored.sha256 == hashlib.sha256(data + data).hexdigest()
    scanner = FileScanner()
    scanner.feed(data + data)
    assert stored.safety.verdict == scanner.result().verdict


async def _all(coroutines) -> list:
    return [await c for c in coroutines]
