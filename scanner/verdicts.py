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


# What an upload's verdict brings: stored with its label (`report`), or refused when
# DANGEROUS (`refuse`), or when SUSPICIOUS or DANGEROUS (`refuse-suspicious`).
PicklePolicy = Literal["report", "refuse", "refuse-suspicious"]
REFUSED: dict[str, frozenset[Verdict]] = {
    "report": frozenset(),
    "refuse": frozenset({Verdict.DANGEROUS}),
    "refuse-suspicious": frozenset({Verdict.DANGEROUS, Verdict.SUSPICIOUS}),
}

SCANNER = f"flrepo-pickle-scan/2 (picklescan {version('picklescan')} lists)"


@dataclass(frozen=True)
class Safety:
    """A file's scan result, as stored in its `fs.files` document under `safety`."""

    verdict: Verdict
    globals: tuple[str, ...] = ()
    dangerous_globals: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    scanner: str | None = None
    scanned_at: datetime | None = None
    suspicious_globals: tuple[str, ...] = ()  # neither known to be safe nor allowed
    allowed_by: tuple[str, ...] = ()  # the allowlist entries that made globals count as safe

    def reasons(self) -> tuple[str, ...]:
        """What makes the verdict what it is: the dangerous names, else the suspicious ones
        and what could not be followed."""
        return (self.dangerous_globals or (*self.suspicious_globals, *self.notes))[:10]

    def document(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "globals": list(self.globals),
            "dangerousGlobals": list(self.dangerous_globals),
            "notes": list(self.notes),
            "scanner": self.scanner,
            "scannedAt": self.scanned_at,
            "suspiciousGlobals": list(self.suspicious_globals),
            "allowedBy": list(self.allowed_by),
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
            suspicious_globals=tuple(doc.get("suspiciousGlobals") or ()),  # absent before /2
            allowed_by=tuple(doc.get("allowedBy") or ()),
        )


NEVER_SCANNED = Safety(Verdict.UNSCANNED)


def refuses(policy: PicklePolicy, safety: Safety) -> bool:
    """Whether an upload with this verdict is refused under `policy` (nothing is stored)."""
    return safety.verdict in REFUSED.get(policy, REFUSED["refuse-suspicious"])
