"""API tokens: a name, its scopes and expiry, and the SHA-256 of its secret (never the secret)."""

from datetime import datetime

from beanie import Document
from pymongo import IndexModel


class Token(Document):
    name: str
    sha256: str
    scopes: list[str]
    created: datetime
    expires: datetime | None = None

    class Settings:
        name = "tokens"
        indexes = [IndexModel("name", unique=True), IndexModel("sha256", unique=True)]
