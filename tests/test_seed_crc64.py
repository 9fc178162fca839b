"""CRC-64 as Go's hash/crc64 with the ECMA table computes it (CRC-64/XZ)."""

import os

from bson.int64 import Int64
from flrepo.seed import crc64


def bitwise_crc64_xz(data: bytes) -> int:
    """Reference: the bit-at-a-time definition, no tables."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


def test_check_value():
    assert crc64.crc64(b"123456789") == 0x995DC9BBDF1939FA


def test_empty_input_is_zero_and_leaves_a_running_crc_unchanged():
    assert crc64.crc64(b"") == 0
    value = crc64.crc64(b"123456789")
    assert crc64.update(value, b"") == value


def test_more_known_vectors():
    # Go's crc64.Checksum(text, crc64.MakeTable(crc64.ECMA)) gives the fixed value below
    assert crc64.crc64(b"\x00") == bitwise_crc64_xz(b"\x00")
    assert crc64.crc64(b"\xff" * 8) == bitwise_crc64_xz(b"\xff" * 8)
    text = b"The quick brown fox jumps over the lazy dog"
    assert crc64.crc64(text) == 0x5B5EB8C2E54AA1C4 == bitwise_crc64_xz(text)


def test_matches_bitwise_definition_for_odd_and_even_lengths():
    for length in (1, 2, 3, 7, 8, 255, 256, 1001):
        data = os.urandom(length)
        assert crc64.crc64(data) == bitwise_crc64_xz(data), length


def test_incremental_equals_one_shot():
    data = os.urandom(10_001)
    running = crc64.Crc64()
    for start in range(0, len(data), 333):
        running.update(data[start : start + 333])
    assert running.value == crc64.crc64(data)


def test_running_crc_over_memoryviews_split_anywhere():
    data = os.urandom(4096)
    view = memoryview(data)
    for cut in (0, 1, 7, 2048, 4095, 4096):
        value = crc64.update(crc64.update(0, view[:cut]), view[cut:])
        assert value == crc64.crc64(data) == bitwise_crc64_xz(data), cut


def test_signed_form_keeps_the_64_bits():
    value = crc64.crc64(b"123456789")  # top bit set
    signed = crc64.to_signed(value)
    assert isinstance(signed, Int64)
    assert signed < 0
    assert int(signed) == value - 2**64
    assert crc64.to_unsigned(signed) == value
    assert crc64.to_signed(5) == 5
