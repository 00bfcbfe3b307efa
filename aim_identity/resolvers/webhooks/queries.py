from __future__ import annotations

from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.webhooks.types import Webhook
from aim_identity.tenancy import scoped


async def webhooks(info: Info) -> list[Webhook]:
    organization_id = info.context.signed_in().organization_id
    return [Webhook.of(row) for row in await scoped(m.Webhook, organization_id).order_by("-created_at")]
