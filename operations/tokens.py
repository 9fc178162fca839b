"""API tokens: create (the secret is shown once), list, revoke, and verify a presented secret."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from flrepo.documents.errors import InvalidInput, NotFound
from flrepo.documents.token import Token
from flrepo.operations.access import SCOPES, requires
from flrepo.operations.common import insert_new
from flrepo.operations.validation import check_name

SECRET_PREFIX = "flr_"
MAX_DAYS = 36500


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@requires("admin")
async def create_token(
    name: str, scopes: list[str], expires_days: int | None = None
) -> tuple[Token, str]:
    """A new token and its secret; only the secret's hash is stored."""
    check_name(name, "token name")
    wanted = sorted(set(scopes), key=SCOPES.index) if set(scopes) <= set(SCOPES) else None
    if not wanted:
        raise InvalidInput(f"scopes must be a non-empty selection of {', '.join(SCOPES)}")
    if expires_days is not None and not 1 <= expires_days <= MAX_DAYS:
        raise InvalidInput(f"expiry must be between 1 and {MAX_DAYS} days")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    token = Token(
        name=name,
        sha256=digest(secret),
        scopes=list(wanted),
        created=now,
        expires=now + timedelta(days=expires_days) if expires_days else None,
    )
    return await insert_new(token, f"token {name!r}"), secret


@requires("admin")
async def list_tokens() -> list[Token]:
    return await Token.find_all().sort("name").to_list()


@requires("admin")
async def revoke_token(name: str) -> bool:
    deleted = await Token.find_one({"name": check_name(name, "name")}).delete()
    if deleted is None or not deleted.deleted_count:
        raise NotFound(f"token {name!r} does not exist")
    return True


async def verify_token(secret: str) -> Token | None:
    """The token whose secret this is, if it exists and has not expired."""
    token = await Token.find_one({"sha256": digest(secret)})
    if token is None:
        return None
    if token.expires is not None and _aware(token.expires) <= datetime.now(UTC):
        return None
    return token


def _aware(moment: datetime) -> datetime:
    """MongoDB returns naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
