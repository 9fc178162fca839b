"""Gzip archives written as members compressed on threads read back as one gzip file."""

import gzip
import io
import os
import shutil
import subprocess

import pytest
from archives import members
from flrepo.seed.gzip_members import GzipMembers


@pytest.mark.parametrize("size", [0, 1, 1000, 4096, 4097, 50_000])
def test_the_members_read_back_as_the_bytes_written(size):
    data = os.urandom(size // 2) + b"a" * (size - size // 2)
    out = io.BytesIO()
    packer = GzipMembers(out, threads=2, block=4096)
    for start in range(0, size, 777):  # writes that do not line up with blocks
        packer.write(memoryview(data)[start : start + 777])
    packer.flush()
    packer.close()
    assert gzip.decompress(out.getvalue()) == data
    assert members(out.getvalue()) == max(1, -(-size // 4096))


def test_compressed_blocks_are_written_in_order_while_few_are_held():
    out = io.BytesIO()
    packer = GzipMembers(out, threads=2, block=1000)
    blocks = [bytes([i]) * 1000 for i in range(20)]
    for i, block in enumerate(blocks):
        packer.write(block)
        assert len(packer._pending) <= 2  # the others are in the file already
        if i >= 3:
            assert out.tell() > 0
    packer.flush()
    packer.close()
    assert gzip.decompress(out.getvalue()) == b"".join(blocks)


def test_closing_without_flushing_drops_the_rest():
    out = io.BytesIO()
    packer = GzipMembers(out, threads=2, block=1000)
    packer.write(b"x" * 500)
    packer.close()
    assert out.getvalue() == b""


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip command")
def test_gzip_itself_reads_the_members(tmp_path):
    data = os.urandom(30_000)
    path = tmp_path / "x.gz"
    with path.open("wb") as out:
        packer = GzipMembers(out, threads=2, block=4096)
        packer.write(data)
        packer.flush()
        packer.close()
    assert (
        subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout == data
    )
