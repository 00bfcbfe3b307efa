from __future__ import annotations

from aim_identity.auth import api_keys
from aim_identity.errors import Forbidden
from aim_identity.models import ApiKey as ApiKeyRow
from aim_identity.models import Role
from aim_identity.schema.api_keys import ApiKey, ApiKeyPayload, CreateApiKeyInput, CreateApiKeyPayload, RevokeApiKeyInput
from aim_identity.schema.context import Info
from aim_identity.tenancy import scoped


async def list_api_keys(info: Info) -> list[ApiKey]:
    """Administrators see every key of the organization; everyone else sees the keys they made."""
    principal = info.context.signed_in()
    query = scoped(ApiKeyRow, principal.organization_id)
    if principal.role != Role.ADMIN:
        query = query.filter(created_by_id=principal.user_id)
    return [ApiKey.of(row) for row in await query.order_by("-created_at")]


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    principal = info.context.signed_in()
    if principal.kind != "user":
        raise Forbidden("API keys are created by signed-in users, not by other keys")
    key, secret = await api_keys.create(info.context.actor, principal.user_id, principal.role, input.name, Role(input.role),
                                        input.expires_at)
    return CreateApiKeyPayload(api_key=ApiKey.of(key), secret=secret)


async def revoke_api_key(info: Info, input: RevokeApiKeyInput) -> ApiKeyPayload:
    principal = info.context.signed_in()
    owner = None if principal.role == Role.ADMIN else principal.user_id
    key = await api_keys.revoke(info.context.actor, input.id, owner)
    return ApiKeyPayload(api_key=ApiKey.of(key))
