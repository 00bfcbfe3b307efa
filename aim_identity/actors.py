"""Who is acting, and from where: stamped on every audit entry a unit of work writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from aim_identity import ids


@dataclass(frozen=True)
class Actor:
    organization_id: uuid.UUID | None
    actor_type: str  # user | agent | api_key | system
    actor_id: str | None = None  # the global ID the API shows, or a name for the system
    ip_address: str | None = None
    user_agent: str | None = None
    user_id: uuid.UUID | None = None  # set when a person acts, for the rows that record who did it

    def within(self, organization_id: uuid.UUID) -> Actor:
        """The same caller, acting in `organization_id` (a caller that has just proved who it is)."""
        return replace(self, organization_id=organization_id)

    def as_user(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Actor:
        """The caller as the person it has just proved to be, from the same address and client."""
        return replace(
            self,
            organization_id=organization_id,
            actor_type="user",
            actor_id=ids.encode("User", user_id),
            user_id=user_id,
        )
