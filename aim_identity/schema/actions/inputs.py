from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON


@strawberry.input
class AuthorizeActionInput:
    agent_id: strawberry.ID
    capability: str
    timestamp: datetime
    nonce: str
    signature: str
    resource: str | None = None
    context: JSON | None = None


@strawberry.input
class ReportActionResultInput:
    decision_id: strawberry.ID
    success: bool
    error: str | None = None
