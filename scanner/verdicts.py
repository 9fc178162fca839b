"""A file's scan result: its verdict and the imports behind it, as stored under `safety`."""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from importlib.metadata import version
from typing import Any, Literal


class Verdict(StrEnum):
    SAFE = "SAFE"  # a pickle importing only innocuous names (or nothing)
    SUSPICIOUS = "SUSPICIOUS"  # imports names not known to be innocuous, or could not be followed
    DANGEROUS = "DANGEROUS"  # imports a name that can run commands or code
    NOT_PICKLE = "NOT_PICKLE"  # holds no pickle (nor does any member of an archive)
    UNSCANNED = "UNSCANNED"  # stored before scanning existed, not scanned since


# What an upload found DANGEROUS gets: stored with its label, or refused.
PicklePolicy = Literal["report", "refuse"]

SCANNER = f"flrepo-pickle-scan/1 (picklescan {version('picklescan')} lists)"


@dataclass(frozen=True)
class Safety:
    """A file's scan result, as stored in its `fs.files` document under `safety`."""

    verdict: Verdict
    globals: tuple[str, ...] = ()
    dangerous_globals: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    scanner: str | None = None
    scanned_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "globals": list(self.globals),
            "dangerousGlobals": list(self.dangerous_globals),
            "notes": list(self.notes),
            "scanner": self.scanner,
            "scannedAt": self.scanned_at,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any] | None) -> "Safety":
        """The stored result; UNSCANNED when there is none."""
        if not isinstance(doc, dict) or doc.get("verdict") not in Verdict.__members__:
            return NEVER_SCANNED
        scanned_at = doc.get("scannedAt")
        return cls(
            verdict=Verdict(doc["verdict"]),
            globals=tuple(doc.get("globals") or ()),
            dangerous_globals=tuple(doc.get("dangerousGlobals") or ()),
            notes=tuple(doc.get("notes") or ()),
            scanner=doc.get("scanner"),
            scanned_at=scanned_at.replace(tzinfo=UTC) if isinstance(scanned_at, datetime) else None,
        )


NEVER_SCANNED = Safety(Verdict.UNSCANNED)
