from __future__ import annotations

from aim_identity import ids
from aim_identity.auth import api_keys
from aim_identity.errors import Forbidden
from aim_identity.models import Role
from aim_identity.schema.api_keys.inputs import CreateApiKeyInput, RevokeApiKeyInput
from aim_identity.schema.api_keys.payloads import ApiKeyPayload, CreateApiKeyPayload
from aim_identity.schema.api_keys.types import ApiKey
from aim_identity.schema.core.context import Info


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    principal = info.context.signed_in()
    if principal.kind != "user":
        raise Forbidden("API keys are created by signed-in users, not by other keys")
    assert principal.user_id is not None and principal.role is not None
    key, secret = await api_keys.create(
        info.context.actor, principal.user_id, principal.role, input.name, Role(input.role), input.expires_at
    )
    return CreateApiKeyPayload(api_key=ApiKey.of(key), secret=secret)


async def revoke_api_key(info: Info, input: RevokeApiKeyInput) -> ApiKeyPayload:
    principal = info.context.signed_in()
    owner = None if principal.role == Role.ADMIN else principal.user_id
    key = await api_keys.revoke(info.context.actor, ids.decode(input.id, "ApiKey"), owner)
    return ApiKeyPayload(api_key=ApiKey.of(key))
