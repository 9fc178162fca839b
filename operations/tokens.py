"""API tokens: create (the secret is shown once), list, revoke, and verify a presented secret."""

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta

from flrepo.documents.errors import InvalidInput, NotFound
from flrepo.documents.token import Token
from flrepo.operations.access import SCOPES, Caller, requires
from flrepo.operations.common import insert_new
from flrepo.operations.validation import check_name

SECRET_PREFIX = "flr_"
MAX_DAYS = 36500
CACHE_TTL_S = 3.0  # how long a verified token is believed without asking the database
CACHE_SIZE = 4096  # tokens remembered at most


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
    name = check_name(name, "name")
    deleted = await Token.find_one({"name": name}).delete()
    _forget(name)
    if deleted is None or not deleted.deleted_count:
        raise NotFound(f"token {name!r} does not exist")
    return True


async def verify_token(secret: str) -> Token | None:
    """The token whose secret this is, if it exists and has not expired."""
    return await verify_digest(digest(secret))


async def verify_digest(sha256: str) -> Token | None:
    """The token of this secret's digest, if it exists and has not expired.

    Found tokens are remembered for CACHE_TTL_S: a revocation reaches every server process
    within that time (at once in the process that revoked), and a request saves a lookup.
    """
    now = time.monotonic()
    hit = _verified.get(sha256)
    if hit is not None and now - hit[0] < CACHE_TTL_S:
        token: Token | None = hit[1]
    else:
        token = await Token.find_one({"sha256": sha256})
        _remember(sha256, token, now)
    if token is None:
        return None
    if token.expires is not None and _aware(token.expires) <= datetime.now(UTC):
        return None
    return token


async def still_valid(caller: Caller) -> bool:
    """Whether the token a caller was identified by still exists and has not expired."""
    return caller.digest is None or await verify_digest(caller.digest) is not None


# Written by hand rather than with cachetools' TTLCache: a dict and a clock are all it takes,
# and revocation must drop entries by token name, which a plain dict makes easy.
_verified: dict[str, tuple[float, Token]] = {}  # digest -> (when looked up, token)


def _remember(sha256: str, token: Token | None, now: float) -> None:
    """Keep `token` for CACHE_TTL_S (unknown secrets are not kept: they would crowd it)."""
    _verified.pop(sha256, None)
    if token is None:
        return
    if len(_verified) >= CACHE_SIZE:
        for key, (seen, _) in list(_verified.items()):
            if now - seen >= CACHE_TTL_S:
                del _verified[key]
    while len(_verified) >= CACHE_SIZE:
        del _verified[next(iter(_verified))]  # the longest held
    _verified[sha256] = (now, token)


def _forget(name: str) -> None:
    for key, (_, token) in list(_verified.items()):
        if token.name == name:
            del _verified[key]


def _aware(moment: datetime) -> datetime:
    """MongoDB returns naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
