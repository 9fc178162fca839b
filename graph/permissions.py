"""Who may do what: the checks GraphQL fields declare."""

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info


class CanRead(BasePermission):
    """The `read` scope: needed to subscribe. Every caller holds it until tokens exist."""

    message = "The read scope is required"
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return True
