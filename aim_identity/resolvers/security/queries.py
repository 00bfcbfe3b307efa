from __future__ import annotations

import strawberry

from aim_identity import ids
from aim_identity import models as m
from aim_identity.schema.core.context import Info
from aim_identity.schema.core.counts import CountByKey
from aim_identity.schema.core.pagination import Connection, Order, paginate
from aim_identity.schema.security.inputs import ThreatFilter
from aim_identity.schema.security.types import Anomaly, SecurityMetrics, SecurityPolicy, Threat
from aim_identity.security import metrics, policies
from aim_identity.tenancy import scoped

NEWEST_FIRST = Order("detected_at", descending=True)


async def threats(
    info: Info, first: int | None = None, after: str | None = None, filter: ThreatFilter | None = None
) -> Connection[Threat]:
    query = scoped(m.Threat, info.context.organization_id)
    if filter is not None:
        if filter.status is not None:
            query = query.filter(status__in=filter.status)
        if filter.severity is not None:
            query = query.filter(severity__in=filter.severity)
        if filter.type is not None:
            query = query.filter(type__in=filter.type)
        if filter.agent_id is not None:
            query = query.filter(agent_id=ids.decode(filter.agent_id, "Agent"))
    return await paginate(query, NEWEST_FIRST, Threat.of, first=first, after=after)


async def anomalies(
    info: Info, first: int | None = None, after: str | None = None, agent_id: strawberry.ID | None = None
) -> Connection[Anomaly]:
    query = scoped(m.Anomaly, info.context.organization_id)
    if agent_id is not None:
        query = query.filter(agent_id=ids.decode(agent_id, "Agent"))
    return await paginate(query, NEWEST_FIRST, Anomaly.of, first=first, after=after)


async def security_metrics(info: Info) -> SecurityMetrics:
    found = await metrics.of(info.context.organization_id)
    return SecurityMetrics(
        open_threats=found.open_threats,
        threats_by_severity=CountByKey.all(found.threats_by_severity),
        agents_by_status=CountByKey.all(found.agents_by_status),
        verification_success_rate=found.verification_success_rate,
        average_trust_score=found.average_trust_score,
    )


async def security_policies(info: Info) -> list[SecurityPolicy]:
    return [SecurityPolicy.of(p) for p in await policies.all_of(info.context.organization_id)]
