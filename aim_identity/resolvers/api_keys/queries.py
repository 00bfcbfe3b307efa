from __future__ import annotations

from aim_identity import models as m
from aim_identity.schema.api_keys.types import ApiKey
from aim_identity.schema.core.context import Info
from aim_identity.tenancy import scoped


async def api_keys(info: Info) -> list[ApiKey]:
    """Administrators see every key of the organization; everyone else sees the keys they made."""
    principal = info.context.signed_in()
    query = scoped(m.ApiKey, principal.organization_id)
    if principal.role != m.Role.ADMIN:
        query = query.filter(created_by_id=principal.user_id)
    return [ApiKey.of(row) for row in await query.order_by("-created_at")]
