"""Who each request is from: its bearer token, or the anonymous scopes, narrowed by its Origin.

The operations themselves decide what a caller may do (operations.access); this only
works out the caller and runs the rest of the request on its behalf.
"""

import hmac
import ipaddress
from dataclasses import replace
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from flrepo.operations.access import SCOPES, Caller, acting_as, parse_scopes
from flrepo.operations.tokens import verify_token
from flrepo.settings import Settings

LOOPBACK_DEFAULT = "read,write,delete"
ELSEWHERE_DEFAULT = "read"


def anonymous_scopes(settings: Settings) -> frozenset[str]:
    """FLREPO_ANONYMOUS_SCOPES, else what suits where the server listens (ValueError if bad)."""
    text = settings.anonymous_scopes
    if text is None:
        text = LOOPBACK_DEFAULT if settings.on_loopback else ELSEWHERE_DEFAULT
    try:
        return parse_scopes(text)
    except ValueError as exc:
        raise ValueError(f"FLREPO_ANONYMOUS_SCOPES: {exc}") from None


MIN_ADMIN_TOKEN = 16


def admin_secret(settings: Settings) -> bytes:
    """FLREPO_ADMIN_TOKEN as bytes (empty: none); ValueError if too short to be a secret."""
    secret = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if 0 < len(secret) < MIN_ADMIN_TOKEN:
        raise ValueError(f"FLREPO_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN} characters")
    return secret.encode()


def caller_key(scope: Scope, caller: Caller) -> str:
    """Whom a share (WebSockets, uploads) is counted for: the token's name, else the client's
    address (behind a trusted proxy, the address it forwarded: see FLREPO_TRUSTED_PROXIES)."""
    if caller.token:
        return f"token:{caller.name}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


class Access:
    """ASGI middleware: resolve the caller of each HTTP request (and WebSocket, from its
    handshake) and act as it."""

    def __init__(
        self, app: ASGIApp, anonymous: frozenset[str], admin: bytes, origins: frozenset[str]
    ) -> None:
        self.app = app
        self.anonymous = Caller("anonymous", anonymous)
        self.admin_secret = admin
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller = await self._caller(headers.get("authorization"))
        caller = replace(caller, key=caller_key(scope, caller))
        origin = headers.get("origin")
        if origin is not None and not self._allowed(origin, headers.get("host", "")):
            caller = replace(caller, scopes=caller.scopes & {"read"}, foreign_origin=origin)
        with acting_as(caller):
            await self.app(scope, receive, send)

    async def _caller(self, authorization: str | None) -> Caller:
        if authorization is None:
            return self.anonymous
        kind, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if kind.lower() != "bearer" or not secret:
            return Caller("anonymous", frozenset(), bad_token=True)
        if self.admin_secret and hmac.compare_digest(secret.encode(), self.admin_secret):
            return Caller("admin (FLREPO_ADMIN_TOKEN)", frozenset(SCOPES), token=True)
        token = await verify_token(secret)
        if token is None:
            return Caller("anonymous", frozenset(), bad_token=True)
        return Caller(token.name, frozenset(token.scopes), token=True, digest=token.sha256)

    def _allowed(self, origin: str, host: str) -> bool:
        """A configured origin, or the server's own page when addressed by IP or localhost.

        Pages under a domain name count as foreign unless configured: a name may be rebound to
        this server's address by whoever controls it (DNS rebinding), an IP address cannot.
        """
        origin = origin.rstrip("/")
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.netloc.lower() != host.lower() or not parts.hostname:
            return False
        if parts.hostname == "localhost":
            return True
        try:
            ipaddress.ip_address(parts.hostname)
        except ValueError:
            return False
        return True
