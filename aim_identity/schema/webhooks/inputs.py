from __future__ import annotations

import strawberry


@strawberry.input
class CreateWebhookInput:
    url: str
    events: list[str]


@strawberry.input
class DeleteWebhookInput:
    id: strawberry.ID
