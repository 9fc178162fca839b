"""CRC-64 as Go's `hash/crc64` computes it with the ECMA table (the CRC-64/XZ variant).

mongodump stores this checksum of every collection's raw BSON in the archive's
end markers. Pure Python, table driven: a 16-bit table halves the loop count of
the classic byte-at-a-time loop.
"""

from bson.int64 import Int64

POLY = 0xC96C5795D7870F42  # ECMA-182, reflected
MASK = 0xFFFFFFFFFFFFFFFF


def _byte_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _word_table(byte_table: list[int]) -> list[int]:
    """Entry i: the register after feeding the two little-endian bytes of i into a zero CRC."""
    out = []
    for i in range(65536):
        crc = byte_table[i & 0xFF]
        out.append(byte_table[(crc ^ (i >> 8)) & 0xFF] ^ (crc >> 8))
    return out


BYTE_TABLE = _byte_table()
WORD_TABLE = _word_table(BYTE_TABLE)


def update(crc: int, data: bytes | bytearray | memoryview) -> int:
    """Continue the unsigned CRC `crc` (0 for a new one) over `data`."""
    view = memoryview(data).cast("B")
    crc = ~crc & MASK
    table = WORD_TABLE
    even = len(view) & ~1
    if even:
        for word in view[:even].cast("H"):
            crc = table[(crc ^ word) & 0xFFFF] ^ (crc >> 16)
    if even != len(view):
        crc = BYTE_TABLE[(crc ^ view[-1]) & 0xFF] ^ (crc >> 8)
    return ~crc & MASK


def crc64(data: bytes | bytearray | memoryview) -> int:
    """The unsigned CRC-64 of `data`."""
    return update(0, data)


def to_signed(crc: int) -> Int64:
    """The same 64 bits as the signed BSON int64 that an archive stores."""
    return Int64(crc - (1 << 64) if crc & (1 << 63) else crc)


def to_unsigned(value: int) -> int:
    """The unsigned CRC from the int64 an archive stores."""
    return int(value) & MASK


class Crc64:
    """A running CRC-64 over data fed in pieces."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.value = update(self.value, data)

    @property
    def signed(self) -> Int64:
        return to_signed(self.value)
