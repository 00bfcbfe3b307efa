from __future__ import annotations

from aim_identity import ids
from aim_identity.schema.core.context import Info
from aim_identity.schema.webhooks.inputs import CreateWebhookInput, DeleteWebhookInput
from aim_identity.schema.webhooks.payloads import CreateWebhookPayload, DeleteWebhookPayload
from aim_identity.schema.webhooks.types import Webhook
from aim_identity.webhooks import registry


async def create_webhook(info: Info, input: CreateWebhookInput) -> CreateWebhookPayload:
    row, secret = await registry.create(info.context.actor, info.context.keyring, input.url, input.events)
    return CreateWebhookPayload(webhook=Webhook.of(row), secret=secret)


async def delete_webhook(info: Info, input: DeleteWebhookInput) -> DeleteWebhookPayload:
    await registry.delete(info.context.actor, ids.decode(input.id, "Webhook"))
    return DeleteWebhookPayload(deleted_id=input.id)
