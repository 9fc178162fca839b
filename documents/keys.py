"""Trusted signing keys, in the database so that every replica verifies alike."""

from datetime import datetime

from beanie import Document
from flrepo.signing.keys import TrustedKey
from pymongo import IndexModel

MAX_KEYS = 256  # trusted keys at most: each verification reads them all


class SigningKey(Document):
    name: str
    kind: str  # "public-key" or "certificate"
    pem: str
    fingerprint: str  # sha256 hex of the canonical PEM
    subject: str | None = None
    added: datetime

    class Settings:
        name = "signing_keys"
        indexes = [IndexModel("name", unique=True)]

    def trusted(self) -> TrustedKey:
        kind = "certificate" if self.kind == "certificate" else "public-key"
        return TrustedKey(self.name, kind, self.pem.encode(), self.fingerprint, self.subject)


async def trusted_keys() -> list[TrustedKey]:
    """Every trusted key (at most MAX_KEYS, which adding keys enforces)."""
    found = await SigningKey.find_all().sort("name").limit(MAX_KEYS).to_list()
    return [key.trusted() for key in found]
