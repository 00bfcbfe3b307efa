from __future__ import annotations

import strawberry

from aim_identity import models as m

Severity = strawberry.enum(m.Severity)
ThreatStatus = strawberry.enum(m.ThreatStatus)
ThreatType = strawberry.enum(m.ThreatType)
