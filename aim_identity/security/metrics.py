"""An organization's security at a glance (securityMetrics)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from tortoise.functions import Avg, Count

from aim_identity import clock
from aim_identity.models import (
    Agent,
    AgentStatus,
    Severity,
    Threat,
    VerificationEvent,
    VerificationResult,
)
from aim_identity.security.threats import OPEN
from aim_identity.tenancy import scoped

RATE_OVER = timedelta(hours=24)


@dataclass(frozen=True)
class Metrics:
    open_threats: int
    threats_by_severity: list[tuple[str, int]]
    agents_by_status: list[tuple[str, int]]
    verification_success_rate: float
    average_trust_score: float


async def of(organization_id: uuid.UUID) -> Metrics:
    by_severity = dict(
        await Threat.filter(organization_id=organization_id, status__in=OPEN)
        .annotate(n=Count("id"))
        .group_by("severity")
        .values_list("severity", "n")
    )
    live = scoped(Agent, organization_id)
    by_status = dict(await live.annotate(n=Count("id")).group_by("status").values_list("status", "n"))
    averaged = await live.annotate(mean=Avg("trust_score")).first().values("mean")
    average = (averaged or {}).get("mean") or 0.0
    answers = dict(
        await VerificationEvent.filter(organization_id=organization_id, created_at__gte=clock.now() - RATE_OVER)
        .annotate(n=Count("id"))
        .group_by("result")
        .values_list("result", "n")
    )
    total = sum(answers.values())
    return Metrics(
        open_threats=sum(by_severity.values()),
        threats_by_severity=[(s.value, by_severity.get(s, 0)) for s in Severity],
        agents_by_status=[(s.value, by_status.get(s, 0)) for s in AgentStatus],
        verification_success_rate=answers.get(VerificationResult.VERIFIED, 0) / total if total else 0.0,
        average_trust_score=round(float(average), 4),
    )
