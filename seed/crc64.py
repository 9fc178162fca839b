"""CRC-64 as Go's `hash/crc64` computes it with the ECMA table (the CRC-64/XZ variant).

mongodump stores this checksum of every collection's raw BSON in the archive's
end markers. The arithmetic is `fastcrc`'s (native code, continues a running
CRC); this module adds the signed form an archive stores.
"""

from bson.int64 import Int64
from fastcrc import crc64 as _fastcrc64

MASK = 0xFFFFFFFFFFFFFFFF


def update(crc: int, data: bytes | bytearray | memoryview) -> int:
    """Continue the unsigned CRC `crc` (0 for a new one) over `data`."""
    return _fastcrc64.xz(data, crc)


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
