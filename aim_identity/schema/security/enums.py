from __future__ import annotations

import strawberry

from aim_identity import models as m

# The models' own enums, which strawberry.enum marks in place; plain aliases, so that mypy reads them as types.
Severity = m.Severity
ThreatStatus = m.ThreatStatus
ThreatType = m.ThreatType
ResponseAction = m.ResponseAction
strawberry.enum(Severity)
strawberry.enum(ThreatStatus)
strawberry.enum(ThreatType)
strawberry.enum(ResponseAction)
