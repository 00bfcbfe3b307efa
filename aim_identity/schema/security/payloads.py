from __future__ import annotations

import strawberry

from aim_identity.schema.security.types import Threat


@strawberry.type
class ThreatPayload:
    threat: Threat
