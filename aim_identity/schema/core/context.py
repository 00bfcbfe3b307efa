"""Per-request context: the caller, the request's DataLoaders, and the service's settings and keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from aim_identity import row_security
from aim_identity.actors import Actor
from aim_identity.auth.keyring import Keyring
from aim_identity.auth.principal import Principal
from aim_identity.config import Settings
from aim_identity.errors import AimError, Forbidden, Unauthenticated
from aim_identity.mail import Mailer
from aim_identity.models import Role
from aim_identity.schema.core.loaders import Loaders
from aim_identity.security.blocklist import Blocklist
from aim_identity.throttle import Throttle


@dataclass
class Context:
    settings: Settings
    keyring: Keyring
    principal: Principal | None
    ip_address: str | None
    user_agent: str | None
    credential_error: AimError | None = None  # a credential was presented and refused
    request: Any = None
    response: Any = None
    connection_params: dict | None = None
    feed: AsyncIterator[dict[str, Any]] | None = None  # a subscription group's events (fanout.py)
    # Over HTTP only: what signing up, signing in and blocking an address need.
    throttle: Throttle | None = None
    mailer: Mailer | None = None
    blocklist: Blocklist | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = (
            Loaders(self.principal.organization_id, self.principal.agent_id) if self.principal else Loaders(None)
        )

    async def throttled(self, action: str, rate: str) -> None:
        """Counts one `action` by this request's address (a RATE_LIMITED past `rate`)."""
        assert self.throttle is not None  # every HTTP request has one
        await self.throttle.hit(action, rate, self.ip_address)

    def act_as(self, principal: Principal) -> None:
        """After register, login or refresh, the rest of the response is read as the new session."""
        row_security.enter(principal.organization_id)
        self.principal = principal
        self.loaders = Loaders(principal.organization_id, principal.agent_id)

    @property
    def organization_id(self) -> uuid.UUID:
        return self.signed_in().organization_id

    @property
    def actor(self) -> Actor:
        """The audit identity of this request: anonymous until the caller proves who it is."""
        if self.principal is None:
            return Actor(None, "anonymous", None, self.ip_address, self.user_agent)
        principal = self.principal
        return Actor(
            principal.organization_id,
            principal.kind,
            principal.actor_id,
            self.ip_address,
            self.user_agent,
            user_id=principal.user_id if principal.kind == "user" else None,
        )

    def signed_in(self, *, enrolling: bool = False) -> Principal:
        """The caller; one who must set up MFA first is refused, unless this is part of `enrolling`."""
        if self.principal is None:
            raise self.credential_error or Unauthenticated("Sign in first: send a Bearer token or an X-API-Key")
        if self.principal.must_enroll_mfa and not enrolling:
            raise Forbidden(
                "Your organization requires MFA for your role: set it up with enableMfa and confirmMfa first",
                reason="MFA_ENROLLMENT_REQUIRED",
            )
        return self.principal

    def require_self_or(self, role: Role, agent_id: uuid.UUID | None = None) -> Principal:
        """An agent acting with its own token (on `agent_id`, when given), or a caller with `role`."""
        principal = self.signed_in()
        if principal.kind != "agent":
            return self.require(role)
        if agent_id is not None and principal.agent_id != agent_id:
            raise Forbidden("An agent may act only on itself")
        return principal

    def require(self, role: Role) -> Principal:
        principal = self.signed_in()
        if principal.role is None or not principal.role >= role:
            raise Forbidden(f"This needs the {role.value} role or higher")
        return principal


Info = StrawberryInfo[Context, None]
