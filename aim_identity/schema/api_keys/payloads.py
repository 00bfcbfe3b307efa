from __future__ import annotations

import strawberry

from aim_identity.schema.api_keys.types import ApiKey


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey
    secret: str


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKey
