"""Field-level permissions: attach `at_least(Role.X)` or `SignedIn` to a field, not checks in bodies."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from aim_identity.models import Role


class SignedIn(BasePermission):
    def has_permission(self, source: Any, info, **kwargs: Any) -> bool:
        info.context.signed_in()  # raises UNAUTHENTICATED with a clear message
        return True


class Enrolling(BasePermission):
    """Signed in, even if still to set up the MFA the organization requires: what setting it up needs."""

    def has_permission(self, source: Any, info, **kwargs: Any) -> bool:
        info.context.signed_in(enrolling=True)
        return True


def at_least(role: Role) -> type[BasePermission]:
    class AtLeast(BasePermission):
        def has_permission(self, source: Any, info, **kwargs: Any) -> bool:
            info.context.require(role)  # UNAUTHENTICATED or FORBIDDEN
            return True

    AtLeast.__name__ = f"AtLeast{role.value.title()}"
    return AtLeast
