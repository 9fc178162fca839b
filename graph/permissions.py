"""Who may do what, for the GraphQL fields that call no operation of their own: subscriptions,
and the fields of the objects a mutation answers with."""

from collections.abc import Iterable
from typing import Any

from flrepo.documents.errors import Forbidden, Unauthenticated
from flrepo.operations.access import check
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver, SyncExtensionResolver
from strawberry.permission import BasePermission
from strawberry.types import Info


class CanRead(BasePermission):
    """The `read` scope, as every read operation needs it: to subscribe."""

    message = "The read scope is required"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        try:
            check("read")
        except (Unauthenticated, Forbidden) as exc:
            self.message = str(exc)
            self.error_extensions = {"code": exc.code}
            return False
        return True


class NeedsRead(FieldExtension):
    """The `read` scope, to see a field: a mutation answers a write-only caller with the keys
    it sent, and FORBIDDEN (on the field) for anything else. In queries and subscriptions the
    caller was checked for `read` already, and passes."""

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        check("read")
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        check("read")
        return await next_(source, info, **kwargs)


def reading_needs_read(cls: type, keys: Iterable[str] = ()) -> type:
    """Guard every field of the Strawberry type `cls` with NeedsRead, but for `keys` (Python
    names): new fields are guarded unless named here."""
    allowed = set(keys)
    for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if field.python_name not in allowed:
            field.extensions.append(NeedsRead())
    return cls
