"""Who may do what, for the GraphQL fields that call no resolver of their own: subscriptions."""

from typing import Any

from flrepo.documents.errors import Forbidden, Unauthenticated
from flrepo.operations.access import check
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
