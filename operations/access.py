"""Who is calling, and what they may do: each operation states the scope it needs, here.

The app resolves the caller of each request (token, anonymous scopes, Origin) and runs the
request `acting_as` it; every resolver is wrapped in `requires(scope)`, so both faces enforce
the same rules. Writes, deletes and token changes are logged with the caller's name.
"""

import contextlib
import functools
import logging
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

from flrepo.documents.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from flrepo.operations.validation import UnsafeName, check_name, exact_names

Scope = Literal["read", "write", "delete", "admin", "promote"]
# `promote`: moving a protected model alias (FLREPO_PROTECTED_ALIASES); `admin` may too.
SCOPES: tuple[Scope, ...] = ("read", "write", "delete", "admin", "promote")
IMPLIED: dict[str, str] = {"promote": "admin"}  # a scope, and the scope that also grants it
audit = logging.getLogger("flrepo.audit")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Caller:
    name: str  # the token's name, or "anonymous"
    scopes: frozenset[str]
    token: bool = False  # identified by a token
    bad_token: bool = False  # presented a token that is unknown, expired or revoked
    foreign_origin: str | None = None  # a cross-site request: it may only read
    key: str = ""  # whom shares are counted by: "token:<name>", else "address:<client ip>"
    digest: str | None = None  # sha256 of a stored token's secret, to check it again later


NOBODY = Caller("nobody", frozenset())
_caller: ContextVar[Caller] = ContextVar("caller", default=NOBODY)


def parse_scopes(text: str) -> frozenset[str]:
    """A comma list such as `read,write`; `none` (or nothing) is the empty set."""
    names = {part.strip().lower() for part in text.split(",")} - {"", "none"}
    unknown = names - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(sorted(unknown))}; use {', '.join(SCOPES)}")
    return frozenset(names)


@contextlib.contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    """Run the block's operations on behalf of `caller`."""
    reset = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(reset)


def current_caller() -> Caller:
    """Whom the running request (or WebSocket) acts for."""
    return _caller.get()


def check(scope: Scope) -> Caller:
    """The current caller, if it holds `scope`; else Unauthenticated or Forbidden."""
    caller = _caller.get()
    if caller.bad_token:
        raise Unauthenticated("Invalid, expired or revoked token")
    if scope in caller.scopes or IMPLIED.get(scope) in caller.scopes:
        return caller
    if caller.foreign_origin is not None and scope != "read":
        raise Forbidden(
            f"requests from origin {caller.foreign_origin!r} may only read; "
            "the server lists the origins it accepts writes from in FLREPO_CORS_ORIGINS"
        )
    if not caller.token:
        raise Unauthenticated("Not authenticated")
    raise Forbidden(f"token {caller.name!r} lacks the {scope!r} scope")


def requires(scope: Scope) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Wrap an operation so that it runs only for callers holding `scope`."""

    def wrap(operation: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(operation)
        async def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            caller = check(scope)
            if scope != "read":
                audit.info("%s by %s: %s", operation.__name__, caller.name, _shown(args, kwargs))
            if scope == "write" or not _may_be_stored_unnormalised(args, kwargs):
                return await operation(*args, **kwargs)
            return await _looked_up(operation, args, kwargs)

        return checked

    return wrap


async def _looked_up(
    operation: Callable[P, Awaitable[R]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> R:
    """A read or delete by name: by the NFC form of its names first; if that finds nothing,
    by the names exactly as given, which records stored before normalisation may hold."""
    try:
        result = await operation(*args, **kwargs)  # type: ignore[arg-type]
    except UnsafeName as refused:
        try:
            with exact_names():
                result = await operation(*args, **kwargs)  # type: ignore[arg-type]
        except NotFound:
            raise refused from None
        if _nothing(result):
            raise refused from None
        return result
    except NotFound:
        with exact_names():
            return await operation(*args, **kwargs)  # type: ignore[arg-type]
    if not _nothing(result):
        return result
    with exact_names():
        return await operation(*args, **kwargs)  # type: ignore[arg-type]


def _nothing(result: object) -> bool:
    """None, an empty list, or an empty stream of documents (false when empty, like a list)."""
    return result is None or not result


def _may_be_stored_unnormalised(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Some string argument is not in NFC or holds what new names may not."""
    for value in (*args, *kwargs.values()):
        if not isinstance(value, str):
            continue
        if unicodedata.normalize("NFC", value) != value:
            return True
        try:
            check_name(value, "name")
        except UnsafeName:
            return True
        except InvalidInput:
            continue
    return False


def _shown(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The names an operation was called with (plain strings only, shortened)."""
    values = [*args, *kwargs.values()]
    return " ".join(repr(v[:100]) for v in values if isinstance(v, str)) or "-"
