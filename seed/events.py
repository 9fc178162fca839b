"""What a dump reader yields: batches of raw documents and the end of each collection."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from flrepo.seed.metadata import CollectionInfo

BATCH_DOCUMENTS = 1000
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Documents:
    """Raw BSON documents of one collection, in dump order."""

    db: str
    collection: str
    documents: list[bytes]
    nbytes: int

    @property
    def namespace(self) -> str:
        return f"{self.db}.{self.collection}"


@dataclass(frozen=True, slots=True)
class CollectionEnd:
    """A collection is complete; `crc_checked` tells whether an archive checksum confirmed it."""

    db: str
    collection: str
    documents: int
    nbytes: int
    crc_checked: bool

    @property
    def namespace(self) -> str:
        return f"{self.db}.{self.collection}"


Event = Documents | CollectionEnd


class DumpSource(Protocol):
    """An opened archive or dump directory."""

    name: str
    collections: list[CollectionInfo]
    total_bytes: int

    def events(self) -> Iterator[Event]:
        """Every collection's documents in batches, each collection closed by a CollectionEnd."""
        ...

    def bytes_read(self) -> int:
        """How far into `total_bytes` reading has got (for progress)."""
        ...

    def close(self) -> None: ...
