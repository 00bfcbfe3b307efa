"""Who is acting, and from where: stamped on every audit entry a unit of work writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from aim_identity import ids

# What the audit log keeps of what a client says about itself (models/audit.py): a longer value is cut,
# never refused, so that no request goes unaudited for its headers.
USER_AGENT_MAX = 500
IP_ADDRESS_MAX = 64


@dataclass(frozen=True)
class Actor:
    organization_id: uuid.UUID | None
    actor_type: str  # user | agent | api_key | mcp_server | system | anonymous
    actor_id: str | None = None  # the global ID the API shows, or a name for the system
    ip_address: str | None = None
    user_agent: str | None = None
    user_id: uuid.UUID | None = None  # set when a person acts, for the rows that record who did it

    def __post_init__(self) -> None:
        if self.user_agent is not None and len(self.user_agent) > USER_AGENT_MAX:
            object.__setattr__(self, "user_agent", self.user_agent[:USER_AGENT_MAX])
        if self.ip_address is not None and len(self.ip_address) > IP_ADDRESS_MAX:
            object.__setattr__(self, "ip_address", self.ip_address[:IP_ADDRESS_MAX])

    def within(self, organization_id: uuid.UUID) -> Actor:
        """The same caller, acting in `organization_id` (a caller that has just proved who it is)."""
        return replace(self, organization_id=organization_id)

    def before_organization(self) -> Actor:
        """The same caller, opening an organization that does not exist yet (registration)."""
        return replace(self, organization_id=None)

    def as_agent(self, organization_id: uuid.UUID, agent_id: uuid.UUID) -> Actor:
        """An anonymous caller whose signature proved it to be the agent; any other caller stays itself."""
        if self.actor_type != "anonymous":
            return self.within(organization_id)
        return replace(
            self, organization_id=organization_id, actor_type="agent", actor_id=ids.encode("Agent", agent_id)
        )

    def as_user(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Actor:
        """The caller as the person it has just proved to be, from the same address and client."""
        return replace(
            self,
            organization_id=organization_id,
            actor_type="user",
            actor_id=ids.encode("User", user_id),
            user_id=user_id,
        )
