from __future__ import annotations

import strawberry

from aim_identity.schema.webhooks.types import Webhook


@strawberry.type
class CreateWebhookPayload:
    webhook: Webhook
    secret: str  # shown once


@strawberry.type
class DeleteWebhookPayload:
    deleted_id: strawberry.ID
